package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

// TestStudioServed: the server answers the Studio at / without a token
// (the page asks for one), with the right content types; the API still
// wants its token.
func TestStudioServed(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.start()
	for path, want := range map[string]string{
		"/":          "text/html; charset=utf-8",
		"/app.js":    "text/javascript; charset=utf-8",
		"/style.css": "text/css; charset=utf-8",
	} {
		resp, err := http.Get("http://" + e.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
	}
	if code, _ := e.do("GET", "/api/flows", "", nil, nil); code != 401 {
		t.Errorf("GET /api/flows without a token: %d, want 401", code)
	}
	if code, _ := e.do("GET", "/healthz", "", nil, nil); code != 200 {
		t.Errorf("GET /healthz: %d", code)
	}
}

// upload sends a file to POST /api/files/upload as the Studio does, from a
// pipe: the request body is produced while the server reads it.
func upload(t *testing.T, e *env, token string, request string, name string, data io.Reader) (int, map[string]any) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		if request != "" {
			mw.WriteField("request", request)
		}
		fw, err := mw.CreateFormFile("file", name)
		if err == nil {
			_, err = io.Copy(fw, data)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", "http://"+e.addr+"/api/files/upload", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	body, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(body, &out) != nil {
		out = map[string]any{"raw": string(body)}
	}
	return resp.StatusCode, out
}

// patterned is n bytes that differ along the way, made as they are read.
type patterned struct{ n, off int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 7 / 4096)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// TestStudioFiles: Upload a file from a browser (multipart/form-data,
// streamed, of a size unknown up front) and Get a file as a download, through a
// signed link or with the token; a changed link, none, or a missing object
// are refused.
func TestStudioFiles(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.start()

	const size = 20<<20 + 123
	want := sha256.New()
	io.Copy(want, &patterned{n: size})
	req := `{"connection": "vg", "inputs": {"bucket": "` + bucket + `", "folder": "up"}}`
	code, out := upload(t, e, e.token, req, "big.bin", &patterned{n: size})
	if code != 200 {
		t.Fatalf("upload: %d %v", code, out)
	}
	b := out["bundles"].([]any)[0].(map[string]any)
	if b["key"] != "up/big.bin" || b["size"] != float64(size) {
		t.Errorf("upload bundle %v, want key up/big.bin, size %d", b, size)
	}

	// Refused: no token; the request after the file; a file given as a path.
	if code, _ := upload(t, e, "", req, "x.txt", strings.NewReader("x")); code != 401 {
		t.Errorf("upload without a token: %d, want 401", code)
	}
	if code, out := upload(t, e, e.token, "", "x.txt", strings.NewReader("x")); code != 400 {
		t.Errorf("upload without the request part: %d %v, want 400", code, out)
	}
	bad := `{"connection": "vg", "inputs": {"bucket": "` + bucket + `", "file": "/etc/passwd"}}`
	if code, out := upload(t, e, e.token, bad, "x.txt", strings.NewReader("x")); code != 403 {
		t.Errorf("upload with inputs.file: %d %v, want 403", code, out)
	}

	// The download through a link, without the token.
	body, _ := json.Marshal(map[string]any{"connection": "vg", "inputs": map[string]any{"bucket": bucket, "path": "up/big.bin"}})
	code, out = e.do("POST", "/api/files/link", e.token, body, nil)
	if code != 200 {
		t.Fatalf("link: %d %v", code, out)
	}
	link := out["url"].(string)
	resp, err := http.Get("http://" + e.addr + link)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, _ := io.Copy(got, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("download: %d, %d bytes, same data %v", resp.StatusCode, n, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=big.bin` {
		t.Errorf("Content-Disposition %q", cd)
	}

	// With the token and the inputs in the query.
	code, out = e.do("GET", "/api/files/download?connection=vg&bucket="+bucket+"&path=up/big.bin&range=0-9", e.token, nil, nil)
	if code != 200 || out["raw"] == nil || len(out["raw"].(string)) != 10 {
		t.Errorf("download of a range with the token: %d %v", code, out)
	}

	// Refused: a changed link, no link and no token, a missing object.
	i := strings.Index(link, "ticket=") + len("ticket=") + 5
	changed := link[:i] + string(link[i]^1) + link[i+1:]
	for _, path := range []string{changed, "/api/files/download?connection=vg&bucket=" + bucket + "&path=up/big.bin"} {
		if code, _ := e.do("GET", path, "", nil, nil); code != 401 {
			t.Errorf("GET %s: %d, want 401", path, code)
		}
	}
	if code, out := e.do("GET", "/api/files/download?connection=vg&bucket="+bucket+"&path=nope.txt", e.token, nil, nil); code != 404 || !strings.Contains(out["error"].(string), "NoSuchKey") {
		t.Errorf("download of a missing object: %d %v, want 404 NoSuchKey", code, out)
	}
	if code, _ := e.do("POST", "/api/files/link", e.token, []byte(`{"connection": "vg", "inputs": {"bucket": "`+bucket+`", "path": "a", "out": "/tmp/x"}}`), nil); code != 403 {
		t.Errorf("link with inputs.out: %d, want 403", code)
	}
}
