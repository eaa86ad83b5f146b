package s3

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkListDecode measures what s3flow spends per listed object:
// ListObjectsV2 pages of 1,000 keys (from a canned answer, so the server's
// own time is out of it) decoded by the SDK and turned into bundles.
func BenchmarkListDecode(b *testing.B) {
	var page strings.Builder
	page.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix></Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`)
	for i := range 1000 {
		fmt.Fprintf(&page, `<Contents><Key>reports/daily/2026-11-24/file-%06d.csv</Key><LastModified>2026-11-24T10:00:00.000Z</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>`, i, 1000+i)
	}
	page.WriteString(`</ListBucketResult>`)
	body := page.String()
	tg, _ := fakeS3(&testing.T{}, "us-east-1", func(w http.ResponseWriter, _ seenRequest) {
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, body)
	})
	b.ReportAllocs()
	b.ResetTimer()
	objects := 0
	for b.Loop() {
		got, err := run(b, tg, ListFiles, map[string]any{"bucket": "b"})
		if err != nil || len(got) != 1000 {
			b.Fatalf("%d bundles, %v", len(got), err)
		}
		objects += len(got)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(objects), "ns/object")
}
