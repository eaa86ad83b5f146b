package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// The s3_event tests run the server in this process, on SQLite and on
// PostgreSQL, with flows of built-in modules only; the notifications are
// the JSON stores send. TestS3EventVersitygw has a real store send them.

const eventTestSecret = "event-test-secret"

// eventFlows: reports takes the bearer secret and its URL token; urlonly
// has no secret_env; hook has no s3_event trigger.
var eventFlows = map[string]string{
	// reports reads its typed trigger data: a time, an integer, the record.
	"reports": "name: reports\ntrigger:\n  s3_event: {connection: local, bucket: reports, prefix: in/, suffix: .csv, events: [created], secret_env: S3EVTEST_SECRET}\n" +
		"steps:\n  - {id: items, module: flow.iterate, with: {items: \"{{ [trigger.key, format(trigger.eventTime, 'YYYY-MM-DD'), trigger.size + 1, trigger.record.eventSource] }}\"}}\n",
	"urlonly": "name: urlonly\ntrigger:\n  s3_event: {connection: local, bucket: reports}\nsteps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n",
	"hook":    "name: hook\ntrigger:\n  webhook: {secret_env: S3EVTEST_SECRET}\nsteps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n",
}

type eventServer struct {
	t     *testing.T
	addr  string
	token string // an admin API token
	log   *logBuffer
}

// eventDatabases are the databases the tests run on: an SQLite file, and
// a PostgreSQL database when the test server is there (under CI it must
// be).
func eventDatabases(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "s3flow.db") },
		"postgres": func(t *testing.T) string { return storetest.Postgres(t) },
	}
}

// startEventServer serves flows (eventFlows when nil) from a server on the
// database at target.
func startEventServer(t *testing.T, target string, cfg server.Config, flows map[string]string) *eventServer {
	t.Helper()
	t.Setenv("S3EVTEST_SECRET", eventTestSecret)
	if flows == nil {
		flows = eventFlows
	}
	dir := t.TempDir()
	for name, yaml := range flows {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	logs := &logBuffer{}
	cfg.DB, cfg.Registry, cfg.FlowsDir, cfg.Workers = db, reg, dir, 1
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, err := server.NewTokens(db).Create(t.Context(), "test-"+cfg.ID, server.ScopeAdmin, time.Time{})
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
	return &eventServer{t: t, addr: l.Addr().String(), token: token, log: logs}
}

// post sends body to path with header and returns the status and answer.
func (e *eventServer) post(path string, body []byte, header map[string]string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "http://"+e.addr+path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		e.t.Fatalf("POST %s: %d, not JSON: %q", path, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

func bearer(secret string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + secret}
}

// makeToken asks the admin API for flow's URL token.
func (e *eventServer) makeToken(flow string, rotate bool) (int, map[string]any) {
	body, _ := json.Marshal(map[string]any{"rotate": rotate})
	return e.post("/api/flows/"+flow+"/event-token", body, bearer(e.token))
}

// run gets a run.
func (e *eventServer) run(id string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/api/runs/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// runs lists the runs of every flow.
func (e *eventServer) runs() []map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/api/runs?limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rs []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// s3Notification is AWS's JSON for records of (event, bucket, key as
// sent, sequencer).
func s3Notification(records ...[4]string) []byte {
	var rs []map[string]any
	for _, r := range records {
		rs = append(rs, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-12-01T06:00:00.000Z", "eventName": r[0],
			"s3": map[string]any{"bucket": map[string]any{"name": r[1]},
				"object": map[string]any{"key": r[2], "size": 22, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": r[3]}},
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": rs})
	return b
}

func created(key, sequencer string) [4]string {
	return [4]string{"ObjectCreated:Put", "reports", key, sequencer}
}

// TestS3EventAuth: the bearer secret and the URL token each let a
// notification in; everything else is refused with one answer per route,
// whatever the flow, and starts nothing. A rotated token ends the old
// one, and no token reaches the log.
func TestS3EventAuth(t *testing.T) {
	for name, target := range eventDatabases(t) {
		t.Run(name, func(t *testing.T) {
			e := startEventServer(t, target(t), server.Config{}, nil)
			body := s3Notification(created("in/a.csv", "01"))

			// The bearer secret.
			status, answer := e.post("/events/reports", body, bearer(eventTestSecret))
			if status != 200 || len(answer["runs"].([]any)) != 1 {
				t.Fatalf("with the secret: %d %v", status, answer)
			}
			var refusal any
			for _, tc := range []struct {
				name, path string
				header     map[string]string
			}{
				{"wrong secret", "/events/reports", bearer("wrong")},
				{"secret as a prefix", "/events/reports", bearer(eventTestSecret[:5])},
				{"no header", "/events/reports", nil},
				{"basic auth", "/events/reports", map[string]string{"Authorization": "Basic " + eventTestSecret}},
				{"no secret_env", "/events/urlonly", bearer(eventTestSecret)},
				{"no s3_event trigger", "/events/hook", bearer(eventTestSecret)},
				{"unknown flow", "/events/nope", bearer(eventTestSecret)},
			} {
				status, answer := e.post(tc.path, s3Notification(created("in/"+tc.name+".csv", "02")), tc.header)
				if status != 401 {
					t.Errorf("%s: %d %v, want 401", tc.name, status, answer)
				}
				if refusal == nil {
					refusal = answer["error"]
				} else if answer["error"] != refusal {
					t.Errorf("%s: answered %q, unlike %q", tc.name, answer["error"], refusal)
				}
			}

			// The URL token, made by the admin API, shown once.
			status, made := e.makeToken("reports", false)
			if status != 201 || !strings.HasPrefix(made["token"].(string), "s3e_") || made["path"] != "/events/reports/"+made["token"].(string) {
				t.Fatalf("make the token: %d %v", status, made)
			}
			token := made["token"].(string)
			if status, answer := e.makeToken("reports", false); status != 409 || strings.Contains(answer["error"].(string), "s3e_") {
				t.Errorf("made again without rotate: %d %v, want 409 and no token", status, answer)
			}
			if status, answer := e.makeToken("hook", false); status != 400 {
				t.Errorf("a token for a flow without s3_event: %d %v, want 400", status, answer)
			}
			if status, answer := e.post("/events/reports/"+token, s3Notification(created("in/b.csv", "03")), nil); status != 200 || len(answer["runs"].([]any)) != 1 {
				t.Fatalf("with the URL token: %d %v", status, answer)
			}
			_, other := e.makeToken("urlonly", false)
			refusal = nil
			for _, tc := range []struct{ name, path string }{
				{"wrong token", "/events/reports/s3e_" + strings.Repeat("0", 48)},
				{"token changed at the end", "/events/reports/" + token[:len(token)-1] + "x"},
				{"another flow's token", "/events/reports/" + other["token"].(string)},
				{"unknown flow", "/events/nope/" + token},
				{"no s3_event trigger", "/events/hook/" + token},
			} {
				status, answer := e.post(tc.path, s3Notification(created("in/"+tc.name+".csv", "04")), nil)
				if status != 404 {
					t.Errorf("%s: %d %v, want 404", tc.name, status, answer)
				}
				if refusal == nil {
					refusal = answer["error"]
				} else if answer["error"] != refusal {
					t.Errorf("%s: answered %q, unlike %q", tc.name, answer["error"], refusal)
				}
			}
			// Only an admin token makes event tokens.
			if status, _ := e.post("/api/flows/reports/event-token", []byte(`{"rotate":true}`), nil); status != 401 {
				t.Errorf("making a token without an API token: %d, want 401", status)
			}

			_, rotated := e.makeToken("reports", true)
			if status, _ := e.post("/events/reports/"+token, s3Notification(created("in/c.csv", "05")), nil); status != 404 {
				t.Errorf("the old token after rotation: %d, want 404", status)
			}
			if status, _ := e.post("/events/reports/"+rotated["token"].(string), s3Notification(created("in/c.csv", "05")), nil); status != 200 {
				t.Errorf("the new token: %d, want 200", status)
			}
			if n := len(e.runs()); n != 3 {
				t.Errorf("%d runs, want 3 (one per notification let in)", n)
			}
			for _, secret := range []string{token, rotated["token"].(string), other["token"].(string), eventTestSecret} {
				if strings.Contains(e.log.String(), secret) {
					t.Errorf("the log holds a token or secret:\n%s", e.log)
				}
			}
		})
	}
}

// TestS3EventNotifications: what a sender may post, and what becomes of
// it: one run per new matching record with its decoded key, nothing for
// records outside the trigger, a test event or a record sent again; SNS
// envelopes; 400 for what is no notification, 413 for too much.
func TestS3EventNotifications(t *testing.T) {
	for name, target := range eventDatabases(t) {
		t.Run(name, func(t *testing.T) {
			e := startEventServer(t, target(t), server.Config{MaxWebhookBody: 64 << 10}, nil)
			post := func(body []byte) (int, map[string]any) {
				t.Helper()
				return e.post("/events/reports", body, bearer(eventTestSecret))
			}

			// Filters: another bucket, outside the prefix, another
			// suffix, an event not asked for; one that matches, its
			// key encoded as S3 does.
			status, answer := post(s3Notification(
				[4]string{"ObjectCreated:Put", "other", "in/a.csv", "01"},
				created("out/a.csv", "02"),
				created("in/a.csv.tmp", "03"),
				[4]string{"ObjectRemoved:Delete", "reports", "in/a.csv", "04"},
				created("in/Q4+sales%2B%C3%A9t%C3%A9.csv", "05"),
			))
			if status != 200 || len(answer["runs"].([]any)) != 1 || answer["ignored"] != 4.0 || answer["duplicates"] != 0.0 {
				t.Fatalf("filters: %d %v, want one run and 4 ignored", status, answer)
			}
			rs := e.runs()
			if len(rs) != 1 {
				t.Fatalf("%d runs, want 1", len(rs))
			}
			// The run reads its trigger data as declared (a time, an
			// integer) and succeeds.
			id := rs[0]["id"].(string)
			var run map[string]any
			waitFor(t, func() bool {
				run = e.run(id)["run"].(map[string]any)
				return run["status"] != "queued" && run["status"] != "running"
			})
			if run["status"] != "succeeded" {
				t.Errorf("the run: %v", run)
			}
			trig := rs[0]["trigger"].(map[string]any)
			if trig["type"] != "s3_event" || trig["key"] != "in/Q4 sales+été.csv" || trig["bucket"] != "reports" || trig["eventName"] != "ObjectCreated:Put" ||
				trig["sequencer"] != "05" || trig["size"] != 22.0 || trig["record"].(map[string]any)["eventSource"] != "aws:s3" {
				t.Errorf("trigger = %v", trig)
			}

			// The same notification again starts nothing; nor do copies
			// sent at once.
			again := s3Notification(created("in/Q4+sales%2B%C3%A9t%C3%A9.csv", "05"))
			if status, answer := post(again); status != 200 || len(answer["runs"].([]any)) != 0 || answer["duplicates"] != 1.0 {
				t.Errorf("sent again: %d %v, want no run and one duplicate", status, answer)
			}
			fresh := s3Notification(created("in/b.csv", "06"), created("in/c.csv", "07"))
			var started atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					req, _ := http.NewRequest("POST", "http://"+e.addr+"/events/reports", bytes.NewReader(fresh))
					req.Header.Set("Authorization", "Bearer "+eventTestSecret)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					var a map[string]any
					json.NewDecoder(resp.Body).Decode(&a)
					if rs, ok := a["runs"].([]any); ok {
						started.Add(int64(len(rs)))
					} else {
						t.Errorf("a copy sent at once: %d %v", resp.StatusCode, a)
					}
				})
			}
			wg.Wait()
			if started.Load() != 2 {
				t.Errorf("8 copies of 2 records sent at once started %d runs, want 2", started.Load())
			}

			// An SNS Notification carries the same JSON as its Message.
			inner := string(s3Notification(created("in/sns.csv", "08")))
			envelope, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:1:reports", "Message": inner})
			if status, answer := post(envelope); status != 200 || len(answer["runs"].([]any)) != 1 {
				t.Errorf("SNS notification: %d %v", status, answer)
			}

			// S3's test event, as AWS and versitygw send it.
			for _, test := range []string{
				`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T06:00:00.000Z","Bucket":"reports","RequestId":"r","HostId":"h"}`,
				`{"Service":"S3","Event":"s3:TestEvent","Time":"2026-12-01T06:00:00Z","Bucket":"Test-Bucket"}`,
			} {
				if status, answer := post([]byte(test)); status != 200 || answer["test"] != true {
					t.Errorf("test event: %d %v", status, answer)
				}
			}

			// An SNS subscription confirmation: s3flow fetches nothing;
			// an SNS address is logged for the administrator, any other
			// is not.
			var fetched atomic.Int64
			trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Add(1) }))
			defer trap.Close()
			for _, u := range []string{trap.URL + "/?Action=ConfirmSubscription", "https://sns.us-east-1.amazonaws.com.evil.test/?Action=ConfirmSubscription",
				"http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"} {
				confirm, _ := json.Marshal(map[string]any{"Type": "SubscriptionConfirmation", "SubscribeURL": u, "Token": "t"})
				if status, answer := post(confirm); status != 200 || answer["confirmed"] != false {
					t.Errorf("confirmation to %s: %d %v", u, status, answer)
				}
				if strings.Contains(e.log.String(), strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")) {
					t.Errorf("the log shows a SubscribeURL that is no SNS address: %s", u)
				}
			}
			good := "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:1:reports&Token=abc"
			confirm, _ := json.Marshal(map[string]any{"Type": "SubscriptionConfirmation", "SubscribeURL": good})
			if status, _ := post(confirm); status != 200 || !strings.Contains(e.log.String(), "sns.eu-west-1.amazonaws.com") {
				t.Errorf("a confirmation from SNS: %d, and its SubscribeURL is not in the log:\n%s", status, e.log)
			}
			if fetched.Load() != 0 {
				t.Errorf("the server fetched a SubscribeURL %d time(s)", fetched.Load())
			}

			// Not notifications.
			for _, tc := range []struct{ body, msg string }{
				{`{"Records": [`, "s3_event: the body must be a JSON object"},
				{`{"files": ["a.csv"]}`, "s3_event: the body has no Records"},
				{`{"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-12-01T06:00:00Z", "s3": {"bucket": {"name": "reports"}, "object": {"key": "in/%zz.csv"}}}]}`,
					"Records[0].s3.object.key: not URL-encoded"},
				{`{"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-12-01T06:00:00Z", "s3": {"bucket": {"name": "reports"}, "object": {"key": "in/%00.csv"}}}]}`,
					"Records[0].s3.object.key: not a key"},
				{`{"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-12-01T06:00:00Z", "userIdentity": "\u0000", "s3": {"bucket": {"name": "reports"}, "object": {"key": "in/n.csv"}}}]}`,
					"Records[0].s3: holds a NUL character"},
			} {
				if status, answer := post([]byte(tc.body)); status != 400 || !strings.Contains(answer["error"].(string), tc.msg) {
					t.Errorf("%s: %d %v, want 400 saying %q", tc.body, status, answer, tc.msg)
				}
			}
			big := s3Notification(created("in/"+strings.Repeat("x", 900)+".csv", "09"))
			big = bytes.Repeat(big, 80)
			if status, answer := post(big); status != 413 {
				t.Errorf("a body over the limit: %d %v, want 413", status, answer)
			}

			// A switched-off flow takes nothing (409), so the sender's
			// retry once it is on starts the run.
			off := s3Notification(created("in/off.csv", "10"))
			if status, _ := e.post("/api/flows/reports/disable", nil, bearer(e.token)); status != 200 {
				t.Fatalf("disable: %d", status)
			}
			if status, answer := post(off); status != 409 {
				t.Errorf("to a disabled flow: %d %v, want 409", status, answer)
			}
			e.post("/api/flows/reports/enable", nil, bearer(e.token))
			if status, answer := post(off); status != 200 || len(answer["runs"].([]any)) != 1 {
				t.Errorf("once enabled: %d %v, want one run", status, answer)
			}
			if n := len(e.runs()); n != 5 {
				t.Errorf("%d runs in all, want 5", n)
			}
		})
	}
}

// TestS3EventAcrossServers: servers sharing a PostgreSQL database share
// what they have seen: copies of a notification sent to both at once
// start one run per record.
func TestS3EventAcrossServers(t *testing.T) {
	db := storetest.Postgres(t)
	a := startEventServer(t, db, server.Config{ID: "a"}, nil)
	b := startEventServer(t, db, server.Config{ID: "b"}, nil)
	body := s3Notification(created("in/x.csv", "01"), created("in/y.csv", "02"), created("in/z.csv", "03"))
	var wg sync.WaitGroup
	for i := range 8 {
		srv := []*eventServer{a, b}[i%2]
		wg.Go(func() {
			req, _ := http.NewRequest("POST", "http://"+srv.addr+"/events/reports", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+eventTestSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("a copy: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := len(a.runs()); n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
}
