package server_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

// TestWebhookBodyLimit: a webhook body over --max-webhook-body gets 413
// and starts nothing, whether or not the client announced its length; one
// at the limit is accepted.
func TestWebhookBodyLimit(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = []string{"--max-webhook-body", "1000"}
	e.writeFlow("hook", fmt.Sprintf(uploadFlow, "hook", tg.Bucket(t)))
	e.start()
	big := []byte(`{"files":[],"pad":"` + string(bytes.Repeat([]byte("x"), 1000)) + `"}`)
	if code, out := e.do("POST", "/hooks/hook", "", big, map[string]string{"X-S3flow-Token": hookSecret}); code != 413 {
		t.Errorf("a %d-byte body: %d %v, want 413", len(big), code, out)
	}
	// Chunked: no Content-Length, the limit applies while reading.
	if code, out := e.doChunked("/hooks/hook", big, map[string]string{"X-S3flow-Token": hookSecret}); code != 413 {
		t.Errorf("a chunked %d-byte body: %d %v, want 413", len(big), code, out)
	}
	if rs := e.runs(); len(rs) != 0 {
		t.Fatalf("refused bodies started %d runs", len(rs))
	}
	ok := []byte(`{"files":[],"pad":"` + string(bytes.Repeat([]byte("x"), 1000-21)) + `"}`)
	if code, out := e.do("POST", "/hooks/hook", "", ok, map[string]string{"X-S3flow-Token": hookSecret}); code != 202 || len(ok) != 1000 {
		t.Errorf("a %d-byte body: %d %v, want 202", len(ok), code, out)
	}
}
