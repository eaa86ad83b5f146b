package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/store"
)

// noopFlow runs without S3: a run of it succeeds at once.
const noopFlow = `name: noop
steps:
  - id: items
    module: flow.iterate
    with:
      items: "{{ [1] }}"
`

// TestTokenScopes: every API route against a read, a run and an admin
// token. A route needing more than the token's scope answers 403 naming
// the scope it needs, and nothing happens (no run, no object, no
// connection change); otherwise the route answers as its handler does.
func TestTokenScopes(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("noop", noopFlow)
	tokens := map[string]string{"admin": e.token}
	for _, scope := range []string{"read", "run"} {
		tokens[scope] = strings.TrimSpace(e.cli("", "token", "create", scope, "--scope", scope))
	}
	e.start()
	code, out := e.do("POST", "/api/flows/noop/run?wait=true", e.token, []byte(`{}`), nil)
	if code != 200 || out["status"] != "succeeded" {
		t.Fatalf("a run of noop: %d %v\n%s", code, out, e.srvLog)
	}
	runID := out["id"].(string)

	rank := map[string]int{"read": 1, "run": 2, "admin": 3}
	newConn := `{"name":"vg3","access_key_id":"AKIAEXAMPLE","secret_access_key":"not-a-real-secret-0123456789","endpoint":"https://s3.example.com","no_verify":true}`
	routes := []struct {
		need, method, path, body string
		want                     int // the answer when the scope suffices
	}{
		{"read", "GET", "/api/flows", "", 200},
		{"read", "GET", "/api/flows/noop", "", 200},
		{"read", "POST", "/api/validate", noopFlow, 200},
		{"read", "GET", "/api/runs", "", 200},
		{"read", "GET", "/api/runs/" + runID, "", 200},
		{"read", "GET", "/api/connections", "", 200},
		{"read", "GET", "/api/connections/vg", "", 200},
		{"read", "GET", "/api/modules", "", 200},
		{"read", "GET", "/api/flows/noop/source", "", 200},
		{"read", "GET", "/api/flows/noop/versions", "", 200},
		{"read", "GET", "/api/flows/noop/versions/" + strings.Repeat("0", 64), "", 404},
		{"read", "GET", "/api/flows/noop/diff?from=" + strings.Repeat("0", 64) + "&to=" + strings.Repeat("0", 64), "", 404},
		{"run", "POST", "/api/flows/noop/run", `{}`, 202},
		{"run", "POST", "/api/runs/" + runID + "/cancel", "", 409},
		{"run", "POST", "/api/runs/" + runID + "/retry", "", 409},
		{"run", "POST", "/api/modules/s3.list_files", `{"connection":"vg","inputs":{"bucket":"` + bucket + `"}}`, 200},
		{"run", "POST", "/api/files/link", `{"connection":"vg","inputs":{"bucket":"` + bucket + `","path":"a.txt"}}`, 200},
		{"run", "GET", "/api/files/download?connection=vg&bucket=" + bucket + "&path=missing.txt", "", 404},
		{"admin", "POST", "/api/flows/noop/disable", "", 200},
		{"admin", "POST", "/api/flows/noop/enable", "", 200},
		{"admin", "POST", "/api/flows/reload", "", 200},
		{"admin", "POST", "/api/flows/noop/event-token", `{}`, 400}, // noop has no s3_event trigger
		{"admin", "POST", "/api/connections", newConn, 201},
		{"admin", "DELETE", "/api/connections/vg3", "", 204},
		// Refused for want of a base version once the scope is enough:
		// nothing changes.
		{"admin", "PUT", "/api/flows/noop", noopFlow, 409},
		{"admin", "PATCH", "/api/flows/noop", `{"ops": []}`, 400},
		{"admin", "DELETE", "/api/flows/noop", "", 400},
		{"admin", "POST", "/api/flows/noop/versions/" + strings.Repeat("0", 64) + "/restore", "", 404},
	}
	for _, scope := range []string{"read", "run", "admin"} {
		for _, rt := range routes {
			code, out := e.do(rt.method, rt.path, tokens[scope], []byte(rt.body), nil)
			if rank[scope] >= rank[rt.need] {
				if code != rt.want {
					t.Errorf("%s token, %s %s: %d %v, want %d", scope, rt.method, rt.path, code, out, rt.want)
				}
				continue
			}
			msg, _ := out["error"].(string)
			if code != 403 || !strings.Contains(msg, "needs a token with the "+rt.need+" scope") {
				t.Errorf("%s token, %s %s: %d %v, want 403 naming the %s scope", scope, rt.method, rt.path, code, out, rt.need)
			}
		}
		// The upload, as the Studio sends it.
		req := `{"connection":"vg","inputs":{"bucket":"` + bucket + `","folder":"scopes"}}`
		code, out := upload(t, e, tokens[scope], req, scope+".txt", strings.NewReader(scope))
		if want := map[bool]int{true: 200, false: 403}[rank[scope] >= rank["run"]]; code != want {
			t.Errorf("%s token, upload: %d %v, want %d", scope, code, out, want)
		}
		// What the refused requests would have changed is unchanged.
		if scope != "admin" {
			if code, _ := e.do("GET", "/api/connections/vg3", e.token, nil, nil); code != 404 {
				t.Errorf("after the %s token's turn, connection vg3 answers %d, want 404 (never created)", scope, code)
			}
		}
	}
	// The runs started: the first, and one each by the run and admin tokens.
	if rs := e.runs(); len(rs) != 3 {
		t.Errorf("%d runs, want 3 (the read token started one?)", len(rs))
	}
	code, out = e.do("POST", "/api/modules/s3.list_files", e.token, []byte(`{"connection":"vg","inputs":{"bucket":"`+bucket+`","prefix":"scopes/"}}`), nil)
	var keys []string
	for _, b := range out["bundles"].([]any) {
		keys = append(keys, b.(map[string]any)["key"].(string))
	}
	if code != 200 || strings.Join(keys, ",") != "scopes/admin.txt,scopes/run.txt" {
		t.Errorf("uploaded objects: %d %v, want the run and admin tokens' only", code, keys)
	}
}

// TestTokenExpiry: a token past its end is refused with 401 saying it has
// expired, and the download links it made stop working with it.
func TestTokenExpiry(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	short := strings.TrimSpace(e.cli("", "token", "create", "short", "--scope", "run", "--expires", "1h"))
	e.start()
	if code, out := e.do("GET", "/api/flows", short, nil, nil); code != 200 {
		t.Fatalf("before its end: %d %v", code, out)
	}
	link := e.link(short, bucket, "a.txt")

	// The token's end, moved to a second ago (rather than waiting an hour).
	db, err := store.Open(t.Context(), filepath.Join(e.home, "s3flow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `UPDATE api_tokens SET expires_at = ? WHERE name = 'short'`, time.Now().Unix()-1); err != nil {
		t.Fatal(err)
	}
	code, out := e.do("GET", "/api/flows", short, nil, nil)
	if msg, _ := out["error"].(string); code != 401 || !strings.Contains(msg, "expired") {
		t.Errorf("after its end: %d %v, want 401 saying it expired", code, out)
	}
	if code, out := e.do("GET", link, "", nil, nil); code != 401 || !strings.Contains(fmt.Sprint(out["error"]), "token that made it") {
		t.Errorf("its link after its end: %d %v, want 401", code, out)
	}
	if list := e.cli("", "token", "list", "-o", "json"); !strings.Contains(list, `"name":"short"`) || !strings.Contains(list, `"expired":true`) {
		t.Errorf("token list does not mark it expired:\n%s", list)
	}
}

// TestDownloadTickets: a download link works once, even when many use it at
// the same moment; deleting the token that made a link ends it.
func TestDownloadTickets(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	tmp := strings.TrimSpace(e.cli("", "token", "create", "tmp", "--scope", "run"))
	e.start()
	req := `{"connection":"vg","inputs":{"bucket":"` + bucket + `","folder":"t"}}`
	if code, out := upload(t, e, e.token, req, "a.txt", strings.NewReader("hello")); code != 200 {
		t.Fatalf("upload: %d %v", code, out)
	}

	link := e.link(e.token, bucket, "t/a.txt")
	if code, out := e.do("GET", link, "", nil, nil); code != 200 || out["raw"] != "hello" {
		t.Fatalf("first use: %d %v", code, out)
	}
	if code, out := e.do("GET", link, "", nil, nil); code != 410 || !strings.Contains(fmt.Sprint(out["error"]), "used already") {
		t.Errorf("second use: %d %v, want 410", code, out)
	}

	// Used at once by many: one download.
	link = e.link(e.token, bucket, "t/a.txt")
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			resp, err := http.Get("http://" + e.addr + link)
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == 200 {
			ok++
		} else if c != 410 {
			t.Errorf("a concurrent use answered %d", c)
		}
	}
	if ok != 1 {
		t.Errorf("%d downloads through one link at once, want 1 (%v)", ok, codes)
	}

	// The token deleted, its unused link is dead.
	link = e.link(tmp, bucket, "t/a.txt")
	e.cli("", "token", "delete", "tmp")
	if code, out := e.do("GET", link, "", nil, nil); code != 401 || !strings.Contains(fmt.Sprint(out["error"]), "token that made it") {
		t.Errorf("the link of a deleted token: %d %v, want 401", code, out)
	}
}

// link asks for a download link with token.
func (e *env) link(token, bucket, key string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"connection": "vg", "inputs": map[string]any{"bucket": bucket, "path": key}})
	code, out := e.do("POST", "/api/files/link", token, body, nil)
	if code != 200 {
		e.t.Fatalf("link: %d %v", code, out)
	}
	return out["url"].(string)
}

// TestListLimits: GET /api/runs answers 100 runs without ?limit=, at most
// 1,000 with it, and refuses 0, negative, non-numbers and more than 1,000
// in words rather than answering everything.
func TestListLimits(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("noop", noopFlow)
	e.start()
	const started = 103
	for range started {
		if code, out := e.do("POST", "/api/flows/noop/run", e.token, []byte(`{}`), nil); code != 202 {
			t.Fatalf("start a run: %d %v", code, out)
		}
	}
	count := func(query string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/api/runs"+query, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			return -resp.StatusCode, out
		}
		var rs []any
		json.NewDecoder(resp.Body).Decode(&rs)
		return len(rs), nil
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 100},
		{"?limit=3", 3},
		{"?limit=1000", started},
		{"?limit=0", -400},
		{"?limit=-1", -400},
		{"?limit=1001", -400},
		{"?limit=lots", -400},
	} {
		got, out := count(tc.query)
		if got != tc.want {
			t.Errorf("GET /api/runs%s: %d runs (negative: a status) %v, want %d", tc.query, got, out, tc.want)
		}
		if msg, _ := out["error"].(string); got < 0 && !strings.Contains(msg, "limit must be a whole number from 1 to 1000") {
			t.Errorf("GET /api/runs%s: the message %q does not give the rule", tc.query, msg)
		}
	}
}
