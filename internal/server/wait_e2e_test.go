package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

const waitFlow = `name: waiter
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
steps:
  - id: wait
    module: s3.wait_for_files
    connection: vg
    with:
      bucket: %[1]s
      prefix: "{{ trigger.body.prefix }}"
      pattern: "*.csv"
      timeout: "{{ trigger.body.timeout }}"
  - id: put
    module: s3.upload_file
    connection: vg
    with:
      bucket: %[1]s
      folder: done
      file: "{{ file.text(trigger.body.prefix + '.txt', steps.wait.files[0].key) }}"
`

const plainFlow = `name: plain
trigger:
  webhook: {secret_env: TEST_HOOK_SECRET}
steps:
  - id: put
    module: s3.upload_file
    connection: vg
    with:
      bucket: %s
      folder: plain
      file: "{{ file.text('ran.txt', 'ran') }}"
`

// TestWaitForFilesHoldsNoWorker: with one worker, two runs that wait for
// files are suspended on the queue, so a third run still runs to the end
// while they wait; once the files are uploaded both waiting runs go on
// and finish. A wait that times out fails the run, its deadline counted
// from the first check across the suspensions; a waiting run can be
// cancelled.
func TestWaitForFilesHoldsNoWorker(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = []string{"--workers", "1"}
	e.writeFlow("waiter", fmt.Sprintf(waitFlow, bucket))
	e.writeFlow("plain", fmt.Sprintf(plainFlow, bucket))
	e.start()

	a := e.hook("waiter", map[string]any{"prefix": "a", "timeout": "10m"})
	b := e.hook("waiter", map[string]any{"prefix": "b", "timeout": "10m"})
	for _, id := range []string{a, b} {
		waitFor(t, func() bool { return status(e.run(id)) == "waiting" })
	}
	plain := e.hook("plain", map[string]any{})
	waitFor(t, func() bool { return status(e.run(plain)) == "succeeded" })
	for _, id := range []string{a, b} {
		if run, _ := e.run(id); run["finishedAt"] != nil || (run["status"] != "waiting" && run["status"] != "running") {
			t.Fatalf("run %s is %v while its files are missing, want it waiting: %v", id, run["status"], run)
		}
	}

	awsPut(t, tg, bucket, "a/1.csv", "a")
	awsPut(t, tg, bucket, "b/1.csv", "b")
	for _, id := range []string{a, b} {
		waitFor(t, func() bool { return status(e.run(id)) == "succeeded" })
		_, events := e.run(id)
		var waits, resumes int
		for _, ev := range events {
			switch ev.(map[string]any)["status"] {
			case "waiting":
				waits++
			case "resumed-run":
				resumes++
			}
		}
		if waits == 0 || resumes == 0 {
			t.Errorf("run %s recorded %d waiting checks and %d resumes, want both", id, waits, resumes)
		}
	}
	for _, p := range []string{"a", "b"} {
		if got := strings.TrimSpace(tg.AWS(t, "s3", "cp", "s3://"+bucket+"/done/"+p+".txt", "-")); got != p+"/1.csv" {
			t.Errorf("done/%s.txt holds %q, want the key the wait found, %s/1.csv", p, got, p)
		}
	}

	// The timeout counts from the first check: two seconds are over
	// after a suspension or two, and the run fails saying so.
	short := e.hook("waiter", map[string]any{"prefix": "never", "timeout": "2s"})
	waitFor(t, func() bool { return status(e.run(short)) == "failed" })
	if run, _ := e.run(short); !strings.Contains(fmt.Sprint(run["error"]), `timed out after 2s waiting for at least 1 file(s) matching "*.csv" under "never/"`) {
		t.Errorf("the timed-out run's error is %q", run["error"])
	}

	c := e.hook("waiter", map[string]any{"prefix": "c", "timeout": "10m"})
	waitFor(t, func() bool { return status(e.run(c)) == "waiting" })
	if code, out := e.do("POST", "/api/runs/"+c+"/cancel", e.token, nil, nil); code != 200 {
		t.Fatalf("cancel a waiting run: %d %v", code, out)
	}
	waitFor(t, func() bool { return status(e.run(c)) == "cancelled" })
	awsPut(t, tg, bucket, "c/1.csv", "c")
	if n := listCount(t, tg, bucket, "done/c"); n != 0 {
		t.Errorf("the cancelled run went on: %d files under done/c", n)
	}
}

// awsPut uploads a small file with the aws CLI.
func awsPut(t *testing.T, tg s3test.Target, bucket, key, body string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	tg.AWS(t, "s3api", "put-object", "--bucket", bucket, "--key", key, "--body", file)
}

// TestWaitForFilesPostgresAnotherWorker: on PostgreSQL a waiting run is
// held by no process: its worker stops, another worker takes the run up
// when its next check is due, and the wait goes on from where it was (the
// same start) until the file arrives.
func TestWaitForFilesPostgresAnotherWorker(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newPostgresEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("waiter", fmt.Sprintf(waitFlow, bucket))
	e.start()
	w1 := e.startWorker("w1")

	id := e.hook("waiter", map[string]any{"prefix": "pg", "timeout": "10m"})
	waitFor(t, func() bool { return status(e.run(id)) == "waiting" })
	w1.stop(syscall.SIGTERM)
	e.startWorker("w2")
	waitFor(t, func() bool {
		run, events := e.run(id)
		return run["worker"] == "w2" && countEvents(events, "waiting") >= 2
	})
	awsPut(t, tg, bucket, "pg/1.csv", "pg")
	waitFor(t, func() bool { return status(e.run(id)) == "succeeded" })

	_, events := e.run(id)
	starts := map[any]bool{}
	for _, ev := range events {
		if m := ev.(map[string]any); m["status"] == "waiting" {
			starts[m["output"].(map[string]any)["since"]] = true
		}
	}
	if len(starts) != 1 {
		t.Errorf("the waiting checks give %d starts of the wait (%v), want one across both workers", len(starts), starts)
	}
	if got := strings.TrimSpace(tg.AWS(t, "s3", "cp", "s3://"+bucket+"/done/pg.txt", "-")); got != "pg/1.csv" {
		t.Errorf("done/pg.txt holds %q, want pg/1.csv", got)
	}
}

func countEvents(events []any, status string) int {
	n := 0
	for _, ev := range events {
		if ev.(map[string]any)["status"] == status {
			n++
		}
	}
	return n
}
