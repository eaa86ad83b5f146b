package s3

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"sync"
	"testing"

	kpgzip "github.com/klauspost/compress/gzip"
)

// csvLike is n bytes of rows like the reports users gzip: dates, ids,
// names, amounts. Built once per run.
var csvLike = sync.OnceValue(func() []byte {
	const n = 64 << 20
	var b bytes.Buffer
	b.Grow(n + 200)
	b.WriteString("date,order_id,customer,country,amount,status\n")
	names := []string{"Ana Lima", "Bo Chen", "Carla Diaz", "Dev Patel", "Eli Novak", "Femi Ade"}
	countries := []string{"PT", "CN", "ES", "IN", "CZ", "NG", "DE", "US"}
	status := []string{"paid", "refunded", "pending"}
	x := uint32(2463534242)
	for i := 0; b.Len() < n; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		fmt.Fprintf(&b, "2026-%02d-%02d,%d,%s,%s,%d.%02d,%s\n", 1+x%12, 1+x%28, 100000+i, names[x%6], countries[x%8], x%10000, x%100, status[x%3])
	}
	return b.Bytes()[:n]
})

type gzipImpl struct {
	name     string
	compress func(w io.Writer, level int) (io.WriteCloser, error)
	inflate  func(r io.Reader) (io.Reader, error)
}

var gzipImpls = []gzipImpl{
	{"stdlib",
		func(w io.Writer, l int) (io.WriteCloser, error) { return stdgzip.NewWriterLevel(w, l) },
		func(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(r) }},
	{"klauspost",
		func(w io.Writer, l int) (io.WriteCloser, error) { return kpgzip.NewWriterLevel(w, l) },
		func(r io.Reader) (io.Reader, error) { return kpgzip.NewReader(r) }},
}

// BenchmarkGzip compares the standard library's gzip with
// klauspost/compress on 64 MiB of CSV-like data, both ways, at the levels
// gzip_file offers most (1, default 6, 9). The result decides
// gzipCodec (see gzip_file.go).
//
//	go test -run '^$' -bench Gzip -benchmem -benchtime 3x ./internal/module/s3/
func BenchmarkGzip(b *testing.B) {
	data := csvLike()
	for _, impl := range gzipImpls {
		for _, level := range []int{1, 6, 9} {
			b.Run(fmt.Sprintf("compress/%s/level%d", impl.name, level), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				var size int64
				for b.Loop() {
					cw := &countWriter{}
					w, err := impl.compress(cw, level)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := w.Write(data); err != nil {
						b.Fatal(err)
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
					size = cw.n
				}
				b.ReportMetric(float64(size)/float64(len(data))*100, "%size")
			})
		}
		b.Run("decompress/"+impl.name, func(b *testing.B) {
			var gz bytes.Buffer
			w, _ := stdgzip.NewWriterLevel(&gz, 6)
			w.Write(data)
			w.Close()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := impl.inflate(bytes.NewReader(gz.Bytes()))
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, r)
				if err != nil || n != int64(len(data)) {
					b.Fatalf("inflated %d bytes of %d: %v", n, len(data), err)
				}
			}
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
