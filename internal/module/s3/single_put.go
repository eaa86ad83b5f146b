package s3

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
)

// loopbackSinglePutMiB is the multipart threshold on a loopback endpoint:
// up to S3's largest single PUT. On 127.0.0.1 one stream is not what
// limits a transfer, and a store that keeps parts as files (versitygw's
// POSIX backend, the local endpoint) copies every part again to complete a
// multipart upload: one PUT of 1 GiB took 3.0 s where 8 MiB parts took
// 6.2 s (docs/benchmarks.md).
const loopbackSinglePutMiB = 5 << 10

// putFromFile uploads a whole seekable file in one PutObject, streaming it
// from the file: the transfer manager would first read it all into memory.
// On a loopback endpoint the body is sent as UNSIGNED-PAYLOAD, since a
// payload hash guards bytes on a network and 127.0.0.1 has none; elsewhere
// the SDK hashes the file first (it seeks back to send it).
func putFromFile(ctx context.Context, cl *s3.Client, input *transfermanager.UploadObjectInput, contentMD5 string, body io.ReadSeeker, size int64, loopback bool, tracker module.Tracker) (*s3.PutObjectOutput, error) {
	put := putInput(input)
	put.Body = &progressBody{r: body, tracker: tracker, size: size}
	put.ContentLength = aws.Int64(size)
	if contentMD5 != "" {
		put.ContentMD5 = aws.String(contentMD5)
	}
	var opts []func(*s3.Options)
	if loopback {
		opts = append(opts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	}
	return cl.PutObject(ctx, put, opts...)
}

// putFieldRenames are the UploadObjectInput fields PutObjectInput spells
// differently.
var putFieldRenames = map[string]string{"SSEKMSKeyID": "SSEKMSKeyId"}

// putInput copies every field of the transfer manager's input that
// PutObjectInput has (by name; the enum types convert), so a header the
// user set reaches a single PUT exactly as it reaches the transfer
// manager. TestPutInputCopiesEveryField keeps the two in step.
func putInput(in *transfermanager.UploadObjectInput) *s3.PutObjectInput {
	out := &s3.PutObjectInput{}
	src, dst := reflect.ValueOf(in).Elem(), reflect.ValueOf(out).Elem()
	for _, f := range putFields() {
		from := src.Field(f.from)
		if from.IsZero() {
			continue
		}
		to := dst.Field(f.to)
		if f.convert {
			to.Set(from.Convert(to.Type()))
		} else {
			to.Set(from)
		}
	}
	return out
}

// putField is a field of UploadObjectInput and the PutObjectInput field it
// goes to, by index.
type putField struct {
	from, to int
	convert  bool
}

// putFields matches the two types' fields once: found by name for every
// upload, they cost 5% of a flow's CPU.
var putFields = sync.OnceValue(func() []putField {
	src, dst := reflect.TypeFor[transfermanager.UploadObjectInput](), reflect.TypeFor[s3.PutObjectInput]()
	var fields []putField
	for i := range src.NumField() {
		name := src.Field(i).Name
		if name == "Body" || name == "ContentLength" {
			continue
		}
		if n, ok := putFieldRenames[name]; ok {
			name = n
		}
		to, ok := dst.FieldByName(name)
		if !ok {
			continue
		}
		from := src.Field(i).Type
		switch {
		case from.AssignableTo(to.Type):
			fields = append(fields, putField{from: i, to: to.Index[0]})
		case from.ConvertibleTo(to.Type):
			fields = append(fields, putField{from: i, to: to.Index[0], convert: true})
		default:
			panic(fmt.Sprintf("putInput: %s is %s in UploadObjectInput and %s in PutObjectInput", name, from, to.Type))
		}
	}
	return fields
})

// progressBody reports how far into the file a PUT has read. The SDK may
// read it twice (hash, then send) and seeks back between, so progress is
// the furthest point reached by the last pass.
type progressBody struct {
	r       io.ReadSeeker
	tracker module.Tracker
	size    int64
	pos     int64
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.pos += int64(n)
	b.tracker.Update(b.pos, b.size)
	return n, err
}

func (b *progressBody) Seek(offset int64, whence int) (int64, error) {
	pos, err := b.r.Seek(offset, whence)
	if err == nil {
		b.pos = pos
	}
	return pos, err
}
