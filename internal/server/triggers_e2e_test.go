package server_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/s3test"
)

// TestWatchFiles: files added while the server runs fire once; files added
// while it is down fire once after restart; files that existed before the
// first start do not fire.
func TestWatchFiles(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	put := putter(t, tg, bucket)
	put("incoming/old.txt")
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = append(e.args, "--debug") // logs each poll
	e.writeFlow("watch", fmt.Sprintf(watchFlow, bucket, bucket))
	e.start()
	polls := func() int { return strings.Count(e.srvLog.String(), "watch_files: listed") }
	waitFor(t, func() bool { return polls() >= 1 }) // the first poll recorded old.txt
	put("incoming/new.txt")
	waitFor(t, func() bool { return len(e.runs()) == 1 })
	e.stop(syscall.SIGTERM)
	put("incoming/while-down.txt")
	e.start()
	waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == 2 })
	after := polls()
	waitFor(t, func() bool { return polls() >= after+2 }) // two more polls fire nothing more
	rs := e.runs()
	if len(rs) != 2 {
		t.Fatalf("%d runs, want 2 (new.txt and while-down.txt)", len(rs))
	}
	var keys []string
	for _, r := range rs {
		trigger, _ := r["trigger"].(map[string]any)
		keys = append(keys, fmt.Sprint(trigger["key"]))
	}
	if got := strings.Join(keys, ","); got != "incoming/while-down.txt,incoming/new.txt" {
		t.Errorf("runs fired for %s, want while-down.txt then new.txt (newest first)", got)
	}
}

// watchFlow watches incoming/ of a bucket every second (fill in the bucket
// twice) and lists it on each run.
const watchFlow = `name: watch
trigger:
  watch_files: {connection: vg, bucket: %s, prefix: incoming/, every: 1s}
steps:
  - id: info
    module: s3.list_files
    connection: vg
    with: {bucket: %s, prefix: incoming}
`

// putter returns a function that puts an object, its key as its body.
func putter(t *testing.T, tg s3test.Target, bucket string) func(key string) {
	cl := tg.Client(t).S3("")
	return func(key string) {
		t.Helper()
		if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBadScheduleIsRefusedNotFatal: a schedule a cron parser may panic on
// is reported by /api/validate at its line and column, and a flows folder
// holding it leaves that flow out while the server starts and serves the
// others.
func TestBadScheduleIsRefusedNotFatal(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	const bad = "name: tz\ntrigger:\n  schedule: {cron: \"TZ=UTC\"}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	e.writeFlow("tz", bad)
	e.writeFlow("good", "name: good\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n")
	e.start()
	code, body := e.do("GET", "/api/flows", e.token, nil, nil)
	if code != 200 || !strings.Contains(fmt.Sprint(body), "good") || strings.Contains(fmt.Sprint(body), "name:tz") {
		t.Fatalf("GET /api/flows: %d %v, want only the good flow", code, body)
	}
	code, body = e.do("POST", "/api/validate", e.token, []byte(bad), nil)
	if code != 400 || !strings.Contains(fmt.Sprint(body["problems"]), "flow.yaml:3:20: trigger.schedule.cron: give the time zone with timezone:") {
		t.Errorf("POST /api/validate: %d %v, want the problem at 3:20", code, body)
	}
	e.stop(syscall.SIGTERM) // the log is complete
	if !strings.Contains(e.srvLog.String(), "TZ=") {
		t.Errorf("the server log does not say why tz was left out:\n%s", e.srvLog)
	}
}

// TestValidateTriggers: /api/validate checks a trigger against its
// declaration and the connections against the server's, as s3flow
// validate does: each problem at its line and column, with the name meant.
func TestValidateTriggers(t *testing.T) {
	tg := s3test.Versitygw(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.start()
	const src = "name: typos\ntrigger:\n  schedule: {every: 10s, timezon: UTC}\n  watch_files: {connection: lokal, bucket: b}\n" +
		"steps:\n  - {id: a, module: s3.list_files, connection: vgg, with: {bucket: b}}\n"
	code, body := e.do("POST", "/api/validate", e.token, []byte(src), nil)
	got := fmt.Sprint(body["problems"])
	for _, want := range []string{
		"flow.yaml:3:21: trigger.schedule.every: must be a duration of at least 1m",
		`flow.yaml:3:26: trigger.schedule.timezon: unknown key; did you mean "timezone"?`,
	} {
		if code != 400 || !strings.Contains(got, want) {
			t.Errorf("POST /api/validate: %d, problems %s; want %q", code, got, want)
		}
	}
	// With the trigger fixed, the connections are checked.
	fixed := strings.Replace(src, "every: 10s, timezon: UTC", "every: 1m", 1)
	code, body = e.do("POST", "/api/validate", e.token, []byte(fixed), nil)
	got = fmt.Sprint(body["problems"])
	for _, want := range []string{
		`flow.yaml:4:29: trigger.watch_files.connection: no connection named "lokal"; did you mean "local"?`,
		`flow.yaml:6:48: step "a": no connection named "vgg"; did you mean "vg"?`,
	} {
		if code != 400 || !strings.Contains(got, want) {
			t.Errorf("POST /api/validate: %d, problems %s; want %q", code, got, want)
		}
	}
}
