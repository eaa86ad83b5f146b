package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// The webhook tests run the server in this process (its HTTP server on
// 127.0.0.1, its queue and its database real), so that -race sees it and a
// test can give it tiny timeouts through Config. Their flows use built-in
// modules only: no S3 is needed.

const hookTestSecret = "hook-test-secret"

// hookFlows: alpha and beta share one secret; plain has no webhook trigger.
var hookFlows = map[string]string{
	"alpha": "name: alpha\ntrigger:\n  webhook: {secret_env: HOOKTEST_SECRET}\nsteps:\n  - {id: items, module: flow.iterate, with: {items: \"{{ trigger.body.files ?? [] }}\"}}\n",
	"beta":  "name: beta\ntrigger:\n  webhook: {secret_env: HOOKTEST_SECRET}\nsteps:\n  - {id: items, module: flow.iterate, with: {items: \"{{ trigger.body.files ?? [] }}\"}}\n",
	"plain": "name: plain\nsteps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n",
}

type hookServer struct {
	t     *testing.T
	addr  string
	token string
}

// startHookServer serves hookFlows from a server made with cfg on the
// database at target (an SQLite file when empty).
func startHookServer(t *testing.T, target string, cfg server.Config) *hookServer {
	t.Helper()
	t.Setenv("HOOKTEST_SECRET", hookTestSecret)
	dir := t.TempDir()
	for name, yaml := range hookFlows {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if target == "" {
		target = filepath.Join(t.TempDir(), "s3flow.db")
	}
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	cfg.DB, cfg.Registry, cfg.FlowsDir, cfg.Workers = db, reg, dir, 1
	srv, err := server.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, err := server.NewTokens(db).Create(t.Context(), "test-"+cfg.ID, server.ScopeAdmin, time.Time{}) // servers may share db
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		db.Close()
	})
	return &hookServer{t: t, addr: l.Addr().String(), token: token}
}

// post sends a webhook and returns the status and the answer's body.
func (h *hookServer) post(flow string, body []byte, header map[string]string) (int, string) {
	h.t.Helper()
	return h.send("/hooks/"+flow, body, header)
}

// send POSTs body to path and returns the status and the answer's body.
func (h *hookServer) send(path string, body []byte, header map[string]string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+h.addr+path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// runs lists the runs of every flow.
func (h *hookServer) runs() []map[string]any {
	h.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.addr+"/api/runs?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		h.t.Fatal(err)
	}
	return rs
}

// signed is the headers of a signed delivery of body to flow at t.
func signed(secret, flow, delivery string, t time.Time, body []byte) map[string]string {
	return map[string]string{"X-S3flow-Signature": server.SignWebhook(secret, flow, t, body), "X-S3flow-Delivery": delivery}
}

// TestWebhookRefusals: every refused webhook starts nothing, and an
// unknown flow, a flow without a webhook trigger, a wrong token and a wrong
// signature get the very same answer, so flow names cannot be probed.
func TestWebhookRefusals(t *testing.T) {
	h := startHookServer(t, "", server.Config{})
	body := []byte(`{"files":["x"]}`)
	now := time.Now()
	const alike = "alike" // the answer of an unknown flow
	for _, tc := range []struct {
		name   string
		flow   string
		header map[string]string
		status int
		answer string // alike, or a part of the answer
	}{
		{"no header", "alpha", nil, 401, alike},
		{"no header, unknown flow", "nope", nil, 401, alike},
		{"wrong token", "alpha", map[string]string{"X-S3flow-Token": "wrong"}, 401, alike},
		{"token of an unknown flow", "nope", map[string]string{"X-S3flow-Token": hookTestSecret}, 401, alike},
		{"token of a flow without a webhook", "plain", map[string]string{"X-S3flow-Token": hookTestSecret}, 401, alike},
		{"wrong secret's signature", "alpha", signed("wrong", "alpha", "d1", now, body), 401, alike},
		{"signature of an unknown flow", "nope", signed(hookTestSecret, "nope", "d1", now, body), 401, alike},
		{"signature of a flow without a webhook", "plain", signed(hookTestSecret, "plain", "d1", now, body), 401, alike},
		{"alpha's signature sent to beta", "beta", signed(hookTestSecret, "alpha", "d1", now, body), 401, alike},
		{"signature of another body", "alpha", signed(hookTestSecret, "alpha", "d1", now, []byte(`{"files":["y"]}`)), 401, alike},
		{"old body-only signature", "alpha", map[string]string{"X-S3flow-Signature": "sha256=" + strings.Repeat("0", 64), "X-S3flow-Delivery": "d1"}, 401, "t=UNIX,v1=HEX"},
		{"signed 6 minutes ago", "alpha", signed(hookTestSecret, "alpha", "d1", now.Add(-6*time.Minute), body), 401, "from the server's clock"},
		{"signed 6 minutes ahead", "alpha", signed(hookTestSecret, "alpha", "d1", now.Add(6*time.Minute), body), 401, "from the server's clock"},
		{"signed without a delivery id", "alpha", signed(hookTestSecret, "alpha", "", now, body), 401, "X-S3flow-Delivery"},
		{"delivery id with a space", "alpha", signed(hookTestSecret, "alpha", "a b", now, body), 401, "X-S3flow-Delivery"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := h.post(tc.flow, body, tc.header)
			if status != tc.status {
				t.Errorf("status %d (%s), want %d", status, answer, tc.status)
			}
			if tc.answer == alike {
				if _, unknown := h.post("nope", body, nil); answer != unknown {
					t.Errorf("answer %q, unlike an unknown flow's %q", answer, unknown)
				}
			} else if !strings.Contains(answer, tc.answer) {
				t.Errorf("answer %q does not say %q", answer, tc.answer)
			}
			if strings.Contains(answer, hookTestSecret) {
				t.Errorf("answer shows the secret: %s", answer)
			}
		})
	}
	if rs := h.runs(); len(rs) != 0 {
		t.Fatalf("refused webhooks started %d runs", len(rs))
	}
	// The same server takes a right token and a right signature.
	if status, answer := h.post("alpha", body, map[string]string{"X-S3flow-Token": hookTestSecret}); status != 202 {
		t.Fatalf("right token: %d %s", status, answer)
	}
	if status, answer := h.post("alpha", body, signed(hookTestSecret, "alpha", "d1", time.Now(), body)); status != 202 {
		t.Fatalf("right signature: %d %s", status, answer)
	}
	if rs := h.runs(); len(rs) != 2 {
		t.Fatalf("%d runs, want 2", len(rs))
	}
}

// TestWebhookHeadersBeforeBody: a webhook refused for its headers is
// answered before its body arrives, and the connection closed. The
// client here sends the headers of a 1000-byte body and never the body: a
// server that read the body first would wait for it (for its one minute
// ReadTimeout), not answer. (1000 bytes: net/http would drain a body that
// small after the answer, unless told to close the connection.)
func TestWebhookHeadersBeforeBody(t *testing.T) {
	h := startHookServer(t, "", server.Config{})
	for _, tc := range []struct {
		name, flow, header string
	}{
		{"no header", "alpha", ""},
		{"unknown flow", "nope", "X-S3flow-Token: " + hookTestSecret},
		{"wrong token", "alpha", "X-S3flow-Token: wrong"},
		{"stale signature", "alpha", "X-S3flow-Delivery: d1\r\nX-S3flow-Signature: t=1000000000,v1=" + strings.Repeat("ab", 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := "POST /hooks/" + tc.flow + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
			if tc.header != "" {
				req += tc.header + "\r\n"
			}
			status, closed := rawRequest(t, h.addr, req+"\r\n", 10*time.Second)
			if status != 401 || !closed {
				t.Errorf("status %d, closed %v; want 401 and the connection closed before the body", status, closed)
			}
		})
	}
	if rs := h.runs(); len(rs) != 0 {
		t.Fatalf("refused webhooks started %d runs", len(rs))
	}
}

// rawRequest writes a request (or the start of one) on a new connection
// and reads until the server closes it or within expires. It returns the
// answer's status (0 for none) and whether the server closed the
// connection.
func rawRequest(t *testing.T, addr, req string, within time.Duration) (int, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status := 0
	if resp, err := http.ReadResponse(br, nil); err == nil {
		status = resp.StatusCode
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	_, err = br.ReadByte()
	return status, err == io.EOF
}

// TestWebhookSlowBodyCut: a client that sends the headers of a signed
// webhook and then only part of its body is cut when ReadTimeout ends, and
// so are a slow API body, slow headers and an idle connection: none holds
// the server. (A tiny timeout here; the client waits up to 10 s.)
func TestWebhookSlowBodyCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := startHookServer(t, "", server.Config{ReadTimeout: timeout, IdleTimeout: timeout})
	sig := server.SignWebhook(hookTestSecret, "alpha", time.Now(), []byte(`{}`))
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"webhook body", "POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-S3flow-Delivery: slow\r\nX-S3flow-Signature: " + sig + "\r\n\r\n{\"files\":", 400},
		{"API body", "POST /api/flows/alpha/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + h.token + "\r\nContent-Length: 100\r\n\r\n{\"in", 400},
		{"headers", "POST /hooks/alpha HTTP/1.1\r\nHost: x\r\nX-S3flow-", 400},
		{"idle connection", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			status, closed := rawRequest(t, h.addr, tc.req, 10*time.Second)
			if status != tc.status || !closed {
				t.Errorf("status %d, closed %v after %s; want %d and the connection closed", status, closed, time.Since(start).Round(time.Millisecond), tc.status)
			}
		})
	}
	if rs := h.runs(); len(rs) != 0 {
		t.Fatalf("cut requests started %d runs", len(rs))
	}
}

// TestWebhookSigned: a signed delivery starts exactly one run; its replay
// is refused, with the same headers, with another delivery id (the id is
// not signed) or the same id signed again, and when many copies arrive at
// once exactly one starts a run.
func TestWebhookSigned(t *testing.T) {
	h := startHookServer(t, "", server.Config{})
	body := []byte(`{"files":["a"]}`)
	first := signed(hookTestSecret, "alpha", "delivery-1", time.Now(), body)
	if status, answer := h.post("alpha", body, first); status != 202 {
		t.Fatalf("signed delivery: %d %s", status, answer)
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"same headers", first},
		{"another delivery id", map[string]string{"X-S3flow-Signature": first["X-S3flow-Signature"], "X-S3flow-Delivery": "delivery-2"}},
		{"same id signed again", signed(hookTestSecret, "alpha", "delivery-1", time.Now().Add(-time.Second), body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, answer := h.post("alpha", body, tc.header); status != 409 || !strings.Contains(answer, "already received") {
				t.Errorf("replay: %d %s, want 409", status, answer)
			}
		})
	}
	if rs := h.runs(); len(rs) != 1 {
		t.Fatalf("%d runs after replays, want 1", len(rs))
	}
	// The same delivery id for another flow is another delivery.
	if status, answer := h.post("beta", body, signed(hookTestSecret, "beta", "delivery-1", time.Now(), body)); status != 202 {
		t.Fatalf("beta: %d %s", status, answer)
	}

	// (Another body: the same body signed in the same second is the same
	// signature, a replay.)
	body = []byte(`{"files":["b"]}`)
	statuses := postAll([]*hookServer{h}, 8, "alpha", body, signed(hookTestSecret, "alpha", "delivery-3", time.Now(), body))
	if statuses[202] != 1 || statuses[409] != 7 {
		t.Errorf("8 copies at once: %v, want one 202 and seven 409", statuses)
	}
	if rs := h.runs(); len(rs) != 3 {
		t.Fatalf("%d runs, want 3", len(rs))
	}
}

// postAll posts n copies of a webhook at once, spread over servers, and
// counts the answers by status.
func postAll(servers []*hookServer, n int, flow string, body []byte, header map[string]string) map[int]int {
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", "http://"+servers[i%len(servers)].addr+"/hooks/"+flow, bytes.NewReader(body))
			for k, v := range header {
				req.Header.Set(k, v)
			}
			status := 0
			if resp, err := http.DefaultClient.Do(req); err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return statuses
}

// TestWebhookReplayAcrossServers: servers sharing a PostgreSQL database
// share what they have seen: a delivery taken by one is refused by the
// other, and copies sent to both at once start one run.
func TestWebhookReplayAcrossServers(t *testing.T) {
	db := storetest.Postgres(t)
	a := startHookServer(t, db, server.Config{ID: "a"})
	b := startHookServer(t, db, server.Config{ID: "b"})
	body := []byte(`{}`)
	header := signed(hookTestSecret, "alpha", "across-1", time.Now(), body)
	if status, answer := a.post("alpha", body, header); status != 202 {
		t.Fatalf("to server a: %d %s", status, answer)
	}
	if status, answer := b.post("alpha", body, header); status != 409 {
		t.Fatalf("replay to server b: %d %s, want 409", status, answer)
	}
	body = []byte(`{"n":2}`) // not the same signature as the first
	statuses := postAll([]*hookServer{a, b}, 8, "alpha", body, signed(hookTestSecret, "alpha", "across-2", time.Now(), body))
	if statuses[202] != 1 || statuses[409] != 7 {
		t.Errorf("8 copies to two servers at once: %v, want one 202 and seven 409", statuses)
	}
	if rs := a.runs(); len(rs) != 2 {
		t.Fatalf("%d runs, want 2", len(rs))
	}
}

// ExampleSignWebhook shows the header a sender computes (docs/server.md
// gets the same with openssl).
func ExampleSignWebhook() {
	body := []byte(`{"files":["a.csv"]}`)
	fmt.Println(server.SignWebhook("s3cret", "import", time.Unix(1767225600, 0), body))
	// Output: t=1767225600,v1=38dfe9b79d67a3880cad7dc4eaee77768e30adabccea2647068a2b719b9bcec3
}

// TestWebhookDisabledFlow: webhooks to a switched-off flow are refused
// (409) and start nothing, though they arrive in the same moment as
// webhooks to a flow that is on, which are taken; a signed delivery refused
// so may be sent again once the flow is on.
func TestWebhookDisabledFlow(t *testing.T) {
	for name, target := range map[string]func(*testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.Postgres(t) },
	} {
		t.Run(name, func(t *testing.T) {
			h := startHookServer(t, target(t), server.Config{})
			admin := map[string]string{"Authorization": "Bearer " + h.token}
			if status, answer := h.send("/api/flows/alpha/disable", nil, admin); status != 200 {
				t.Fatalf("disable: %d %s", status, answer)
			}
			token := map[string]string{"X-S3flow-Token": hookTestSecret}
			var mu sync.Mutex
			statuses := map[string]map[int]int{"alpha": {}, "beta": {}}
			var wg sync.WaitGroup
			for i := range 16 {
				flow := []string{"alpha", "beta"}[i%2]
				wg.Go(func() {
					status, _ := h.post(flow, []byte(`{}`), token)
					mu.Lock()
					statuses[flow][status]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if statuses["alpha"][409] != 8 || statuses["beta"][202] != 8 {
				t.Errorf("8 webhooks each at once: %v, want alpha's 409 and beta's 202", statuses)
			}
			if rs := h.runs(); len(rs) != 8 {
				t.Errorf("%d runs, want beta's 8", len(rs))
			}
			body := []byte(`{"files":["a"]}`)
			delivery := signed(hookTestSecret, "alpha", "off-1", time.Now(), body)
			if status, answer := h.post("alpha", body, delivery); status != 409 || !strings.Contains(answer, "disabled") {
				t.Errorf("signed, to the disabled flow: %d %s, want 409 saying disabled", status, answer)
			}
			if status, answer := h.send("/api/flows/alpha/enable", nil, admin); status != 200 {
				t.Fatalf("enable: %d %s", status, answer)
			}
			if status, answer := h.post("alpha", body, delivery); status != 202 {
				t.Errorf("the same delivery once enabled: %d %s, want 202", status, answer)
			}
			if rs := h.runs(); len(rs) != 9 {
				t.Errorf("%d runs, want 9", len(rs))
			}
		})
	}
}
