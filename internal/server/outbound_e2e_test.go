package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3test"
)

// fakeKeys is a target for an env whose connection points at a fake.
var fakeKeys = s3test.Target{Name: "fake", Conn: connection.Connection{AccessKeyID: "AKIDOUTBOUND", SecretAccessKey: connection.NewSecret("outbound-secret")}}

// TestServerRefusesPrivateEndpoints: a server started without
// --allow-private-endpoints sends nothing to loopback, private or metadata
// addresses — not for a connection made over the API, nor for one the CLI
// saved (by address or by a name that resolves to 127.0.0.1: the check is
// on the resolved address) — and refuses endpoints with a login, a query or
// a path, and regions that are not regions.
func TestServerRefusesPrivateEndpoints(t *testing.T) {
	t.Parallel()
	s3srv, n := s3test.CountingServer(t)
	u, _ := url.Parse(s3srv.URL)
	byName := "http://localhost:" + u.Port()
	e := newEnv(t, fakeKeys, s3srv.URL)
	e.cli(fakeKeys.Conn.SecretAccessKey.Reveal(), "connection", "create", "byname", "--access-key-id", fakeKeys.Conn.AccessKeyID,
		"--secret-access-key-stdin", "--endpoint", byName, "--path-style", "--no-verify")
	e.strictEndpoints = true
	e.start()

	body := func(fields map[string]any) []byte {
		return jsonWith(map[string]any{"name": "probe", "access_key_id": "AKIDOUTBOUND", "secret_access_key": "outbound-secret", "path_style": true}, fields)
	}
	for _, tt := range []struct {
		name   string
		fields map[string]any
		status int
		want   string
	}{
		{"loopback", map[string]any{"endpoint": s3srv.URL}, 400, "address 127.0.0.1 is loopback"},
		{"loopback, no verify", map[string]any{"endpoint": s3srv.URL, "no_verify": true}, 400, "--allow-private-endpoints"},
		{"localhost", map[string]any{"endpoint": byName}, 400, "is loopback"},
		{"ipv6 loopback", map[string]any{"endpoint": "http://[::1]:" + u.Port()}, 400, "is loopback"},
		{"private", map[string]any{"endpoint": "http://10.0.0.5:9000"}, 400, "is private"},
		{"metadata", map[string]any{"endpoint": "http://169.254.169.254"}, 400, "link-local"},
		{"aws metadata ipv6", map[string]any{"endpoint": "http://[fd00:ec2::254]"}, 400, "metadata"},
		{"mapped metadata", map[string]any{"endpoint": "http://[::ffff:169.254.169.254]"}, 400, "link-local"},
		{"login", map[string]any{"endpoint": "http://evil@" + u.Host}, 400, "must not hold a login"},
		{"query", map[string]any{"endpoint": "https://s3.example.com?x=1"}, 400, "must not have a query"},
		{"fragment", map[string]any{"endpoint": "https://s3.example.com#x"}, 400, "must not have a fragment"},
		{"path", map[string]any{"endpoint": "https://s3.example.com/p"}, 400, "must not have a path"},
		{"region", map[string]any{"region": "x@" + u.Host + "/p?"}, 400, "region: must be 1-63 lower-case letters, digits and dashes (like eu-central-1)"},
	} {
		status, out := e.do("POST", "/api/connections", e.token, body(tt.fields), nil)
		if msg, _ := out["error"].(string); status != tt.status || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %v, want %d and %q", tt.name, status, out, tt.status, tt.want)
		}
	}
	if status, _ := e.do("GET", "/api/connections/probe", e.token, nil, nil); status != 404 {
		t.Errorf("a refused connection was saved (%d)", status)
	}

	// Connections the CLI saved: refused when dialled, by address and by
	// name; api_call's region cannot move the request either.
	for _, conn := range []string{"vg", "byname"} {
		status, out := e.do("POST", "/api/modules/s3.list_buckets", e.token, []byte(`{"connection": "`+conn+`"}`), nil)
		if msg, _ := out["error"].(string); status == 200 || !strings.Contains(msg, "is loopback: private endpoints are refused") {
			t.Errorf("list buckets with %s: %d %v, want refused", conn, status, out)
		}
	}
	req := fmt.Sprintf(`{"connection": "vg", "inputs": {"url": "/", "region": %q}}`, "x@"+u.Host+"/p?")
	if status, out := e.do("POST", "/api/modules/s3.api_call", e.token, []byte(req), nil); status == 200 || !strings.Contains(fmt.Sprint(out["error"]), "region: must be") {
		t.Errorf("api_call with an injected region: %d %v, want refused", status, out)
	}
	// A malformed header is the declaration's rule too: refused before any
	// request, as on the command line and in flows.
	req = `{"connection": "vg", "inputs": {"url": "/", "headers": {"x-amz-meta-bad name": "v"}}}`
	if status, out := e.do("POST", "/api/modules/s3.api_call", e.token, []byte(req), nil); status != 400 || !strings.Contains(fmt.Sprint(out["error"]), `headers: "x-amz-meta-bad name" is not a header name`) {
		t.Errorf("api_call with a malformed header: %d %v, want 400 and the rule", status, out)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("the endpoint on 127.0.0.1 got %d requests, want 0", got)
	}
}

// TestServerAllowsPrivateEndpointsWhenAsked: the same connection works with
// --allow-private-endpoints; metadata addresses stay refused.
func TestServerAllowsPrivateEndpointsWhenAsked(t *testing.T) {
	t.Parallel()
	s3srv, n := s3test.CountingServer(t)
	e := newEnv(t, fakeKeys, s3srv.URL)
	e.start()
	if status, out := e.do("POST", "/api/modules/s3.list_buckets", e.token, []byte(`{"connection": "vg"}`), nil); status != 200 {
		t.Errorf("list buckets: %d %v", status, out)
	}
	if n.Load() == 0 {
		t.Error("no request reached the endpoint")
	}
	data, _ := json.Marshal(map[string]any{"name": "meta", "access_key_id": "AKID", "secret_access_key": "s", "endpoint": "http://169.254.169.254"})
	if status, out := e.do("POST", "/api/connections", e.token, data, nil); status != 400 || !strings.Contains(fmt.Sprint(out["error"]), "link-local") {
		t.Errorf("metadata endpoint: %d %v, want 400", status, out)
	}
}

// TestVerifyIsNoPortScanner: over the API, a closed port, an open port
// that is not S3 and one that never answers in time... the first two are
// told here: both answers are identical, so verification cannot tell which
// ports are open.
func TestVerifyIsNoPortScanner(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>an intranet page</body></html>"))
	}))
	defer web.Close()
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	defer forbidden.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()

	e := newEnv(t, fakeKeys, closed)
	e.start()
	answer := func(endpoint string) string {
		data, _ := json.Marshal(map[string]any{"name": "probe", "access_key_id": "AKID", "secret_access_key": "s", "endpoint": endpoint})
		status, out := e.do("POST", "/api/connections", e.token, data, nil)
		got, _ := json.Marshal(out)
		return fmt.Sprintf("%d %s", status, got)
	}
	want := answer(closed)
	if !strings.Contains(want, "could not reach the endpoint") || !strings.HasPrefix(want, "422 ") {
		t.Fatalf("closed port: %s, want 422 and 'could not reach the endpoint'", want)
	}
	for name, endpoint := range map[string]string{"web page": web.URL, "bare 403": forbidden.URL, "404": notFound.URL} {
		if got := answer(endpoint); got != want {
			t.Errorf("%s: %s\nclosed port: %s\nwant the same answer", name, got, want)
		}
	}
}
