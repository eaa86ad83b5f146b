package s3client_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3flow/s3flow/internal/s3client"
)

// TestFastCRC64 serves "123456789" with a CRC64NVME header: the right one
// (CRC-64/NVME's check value 0xAE8B14860A799888), a wrong one, and one of
// parts, which nothing can check. Only the wrong one fails the read, at
// its end.
func TestFastCRC64(t *testing.T) {
	const data = "123456789"
	for _, tt := range []struct {
		name, header, wantErr string
	}{
		{"right", "rosUhgp5mIg=", ""},
		{"wrong", "AAAAAAAAAAA=", "do not match the object's checksum: CRC64NVME rosUhgp5mIg=, the server stored AAAAAAAAAAA="},
		{"of parts", "AAAAAAAAAAA=-3", ""},
		{"none", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				if tt.header != "" {
					w.Header().Set("x-amz-checksum-crc64nvme", tt.header)
				}
				io.WriteString(w, data)
			})
			c, err := s3client.New(t.Context(), f.conn(), "", s3client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.S3("").GetObject(t.Context(), &s3.GetObjectInput{
				Bucket: aws.String("b"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled,
			}, s3client.FastCRC64)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if tt.wantErr == "" {
				if err != nil || string(got) != data {
					t.Errorf("read %q, %v; want %q", got, err, data)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
