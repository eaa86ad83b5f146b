package s3

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

func TestPartSizeAt(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		n    int32
		want int64
	}{
		{1, 5 * mib}, {900, 5 * mib}, {901, 10 * mib}, {1801, 20 * mib}, {8101, 2560 * mib}, {9001, 5120 * mib}, {10000, 5120 * mib},
	} {
		if got := partSizeAt(5*mib, tt.n); got != tt.want {
			t.Errorf("partSizeAt(5 MiB, %d) = %d MiB, want %d MiB", tt.n, got>>20, tt.want>>20)
		}
	}
	// 10,000 parts reach S3's largest object, 5 TiB.
	var total int64
	for n := int32(1); n <= 10000; n++ {
		total += partSizeAt(5*mib, n)
	}
	if total < 5<<40 {
		t.Errorf("10,000 parts hold %d GiB, less than 5 TiB", total>>30)
	}
	if got := partSizeAt(1<<30, 9000); got != maxPartSize {
		t.Errorf("parts grow past S3's largest part: %d", got)
	}
}

// TestPartWriter writes objects of unknown size in writes of odd sizes:
// below a part (one PUT), and across parts that grow (2 per size here),
// read back by the aws CLI byte for byte. A failed write aborts: no
// object, no upload left.
func TestPartWriter(t *testing.T) {
	old := partsPerSize
	partsPerSize = 2
	t.Cleanup(func() { partsPerSize = old })
	data := randomBytes(7, 45<<20)
	for _, tg := range s3test.Standalone(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			c := tg.Client(t)
			cl := c.S3("")
			tune := tuning{partSize: 5 << 20, parallel: 2}
			for _, tt := range []struct {
				key      string
				size     int
				parts    string // the ETag's suffix
				readFrom bool
			}{
				{"small.bin", 1 << 20, "", false},
				{"empty.bin", 0, "", false},
				// 5 + 5 + 10 + 10 + 15 MiB: five parts, not nine of 5 MiB.
				{"large.bin", len(data), "-5", false},
				// Read to its end by ReadFrom, which ends on a part's edge
				// with an empty buffer taken.
				{"edge.bin", 10 << 20, "-2", true},
			} {
				w := newPartWriter(context.Background(), module.Env{}, c, cl, bucket, tt.key, "application/octet-stream", tune, module.Env{}.StartProgress(tt.key, -1))
				if tt.readFrom {
					if _, err := w.ReadFrom(bytes.NewReader(data[:tt.size])); err != nil {
						t.Fatal(err)
					}
				}
				for rest, step := data[:tt.size], 1; !tt.readFrom && len(rest) > 0; step = step*7%(3<<20) + 1 {
					n := min(step, len(rest))
					if _, err := w.Write(rest[:n]); err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				etag, _, err := w.Close()
				if err != nil {
					t.Fatalf("%s: %v", tt.key, err)
				}
				if len(w.slots) != 0 {
					t.Errorf("%s: %d buffers still lent after Close", tt.key, len(w.slots))
				}
				if tt.parts != "" && !strings.HasSuffix(strings.Trim(etag, `"`), tt.parts) || tt.parts == "" && strings.Contains(etag, "-") {
					t.Errorf("%s: ETag %s, want parts %q", tt.key, etag, tt.parts)
				}
				got, err := os.ReadFile(getWithAWS(t, tg, bucket, tt.key))
				if err != nil || !bytes.Equal(got, data[:tt.size]) {
					t.Errorf("%s: the aws CLI read %d bytes (%v), want the %d written", tt.key, len(got), err, tt.size)
				}
			}

			// Aborted after two parts went up.
			w := newPartWriter(context.Background(), module.Env{}, c, cl, bucket, "aborted.bin", "", tune, module.Env{}.StartProgress("", -1))
			if _, err := w.Write(data[:12<<20]); err != nil {
				t.Fatal(err)
			}
			w.Abort()
			if len(w.slots) != 0 {
				t.Errorf("%d buffers still lent after Abort", len(w.slots))
			}
			ups, err := cl.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("multipart uploads left behind: %v, %v", err, ups.Uploads)
			}
			assertNoObject(t, tg, bucket, "aborted.bin")
		})
	}
}
