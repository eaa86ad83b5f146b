package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/server"
	"github.com/s3flow/s3flow/internal/store"
)

// thousand is how many objects (or notifications) the volume tests send.
const thousand = 1000

// runKeys counts flow's runs by trigger key, read from the database
// itself: the API lists at most 1,000 runs, and a duplicate must show.
func runKeys(t *testing.T, db *store.DB, flow string) (total int, keys map[string]int) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT trigger FROM runs WHERE flow = ?`, flow)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys = map[string]int{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var trig map[string]any
		if err := json.Unmarshal([]byte(raw), &trig); err != nil {
			t.Fatalf("a run's trigger is not JSON: %v", err)
		}
		keys[fmt.Sprint(trig["key"])]++
		total++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return total, keys
}

// checkOnce fails unless keys holds each of want exactly once and nothing
// else.
func checkOnce(t *testing.T, total int, keys map[string]int, want []string) {
	t.Helper()
	if total != len(want) || len(keys) != len(want) {
		t.Errorf("%d runs for %d distinct keys, want %d, one per key", total, len(keys), len(want))
	}
	bad := 0
	for _, k := range want {
		if keys[k] != 1 && bad < 10 {
			t.Errorf("%s started %d runs, want 1", k, keys[k])
			bad++
		}
	}
}

// TestS3EventThousand: 1,000 objects uploaded by one aws CLI command to a
// versitygw that sends its notifications to the flow's URL give exactly
// 1,000 runs, one per key; the same 1,000 notifications (as the store
// sent them, recorded by a proxy) sent again start none.
func TestS3EventThousand(t *testing.T) {
	if _, err := os.Stat(s3test.AWSCLI); err != nil {
		s3test.SkipOrFail(t, "%s is missing (scripts/test.sh installs it)", s3test.AWSCLI)
	}
	versitygwBinary(t)
	begin := time.Now()
	flows := map[string]string{"bulk": "name: bulk\ntrigger:\n  s3_event: {connection: local, bucket: bulk, prefix: in/, key_encoding: none}\n" +
		"steps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n"}
	dbFile := filepath.Join(t.TempDir(), "s3flow.db")
	e := startEventServer(t, dbFile, server.Config{}, flows)
	db, err := store.Open(t.Context(), dbFile)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, made := e.makeToken("bulk", false)
	token := made["token"].(string)
	rec := &eventRecorder{status: map[int]int{}}
	proxy := httptest.NewServer(rec.handler("http://" + e.addr))
	defer proxy.Close()
	tg := startVersitygw(t, proxy.URL+"/events/bulk/"+token)

	dir := t.TempDir()
	var want []string
	for i := range thousand {
		key := fmt.Sprintf("in/d%02d/f%04d.txt", i%10, i)
		want = append(want, key)
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(key), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tg.AWS(t, "s3api", "create-bucket", "--bucket", "bulk")
	upload := time.Now()
	tg.AWS(t, "s3", "cp", "--recursive", "--only-show-errors", dir, "s3://bulk/")
	uploaded := time.Since(upload)

	// versitygw sends its test event and one notification per object,
	// each once; a notification's runs are queued before it is answered.
	expected := 1 + thousand
	var taken int
	var statuses map[int]int
	// Waited for as long as notifications keep coming: under -race on a
	// busy machine the 1,000 take longer than waitFor's minute.
	last, since := 0, time.Now()
	for {
		if taken, statuses = rec.taken(); taken >= expected {
			break
		}
		if taken > last {
			last, since = taken, time.Now()
		}
		if time.Since(since) > time.Minute {
			t.Fatalf("%d of %d notifications taken, none for a minute", taken, expected)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if taken != expected || statuses[200] != expected {
		t.Errorf("the store sent %d notification(s), answered %v; want %d, all 200", taken, statuses, expected)
	}
	total, keys := runKeys(t, db, "bulk")
	checkOnce(t, total, keys, want)
	toRuns := time.Since(upload)

	// The same notifications again, as the store sent them: none starts a
	// run.
	rec.mu.Lock()
	bodies := slices.Clone(rec.bodies)
	rec.mu.Unlock()
	duplicates := 0
	for _, body := range bodies {
		status, answer := e.post("/events/bulk/"+token, body, nil)
		if status != 200 {
			t.Fatalf("sent again: %d %v", status, answer)
		}
		if runs, _ := answer["runs"].([]any); len(runs) != 0 {
			t.Errorf("sent again, started %v", runs)
		}
		if d, ok := answer["duplicates"].(float64); ok {
			duplicates += int(d)
		}
	}
	if duplicates != thousand {
		t.Errorf("%d duplicates found, want %d", duplicates, thousand)
	}
	total, keys = runKeys(t, db, "bulk")
	checkOnce(t, total, keys, want)
	t.Logf("upload %s, all runs queued %s after it began, whole test %s",
		uploaded.Round(time.Millisecond), toRuns.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
}

// TestS3EventSQSKilled: 1,000 notifications in a queue (goaws), two
// thirds S3 → SQS, one third S3 → SNS → SQS, read by a real s3flow server
// that is SIGKILLed once 100 runs exist, between a message's committed
// runs and its deletion, then started again on the same home and SQLite
// database: in the end exactly 1,000 runs, one per key, and an empty
// queue. What the killed server received but had not committed comes back
// when its visibility timeout ends (2 s, set on the queue: goaws takes
// VisibilityTimeout at creation); what it committed but had not deleted
// comes back too and is found a duplicate.
func TestS3EventSQSKilled(t *testing.T) {
	endpoint := sqsEndpoint(t)
	tg := s3test.Versitygw(t)
	begin := time.Now()
	ctx := context.Background()
	client := sqsTestClient(endpoint)
	made, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("s3ev-killed-" + rand.Text()[:8]),
		Attributes: map[string]string{"VisibilityTimeout": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: made.QueueUrl}) })
	var want []string
	var batch []sqstypes.SendMessageBatchRequestEntry
	flush := func() {
		t.Helper()
		if len(batch) == 0 {
			return
		}
		out, err := client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: made.QueueUrl, Entries: batch})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Failed) != 0 {
			t.Fatalf("send: %d failed: %+v", len(out.Failed), out.Failed)
		}
		batch = batch[:0]
	}
	for i := range thousand {
		key := fmt.Sprintf("in/k%04d.csv", i)
		want = append(want, key)
		body := s3Notification(created(key, fmt.Sprintf("%016X", i+1)))
		if i%3 == 2 {
			body = snsEnvelope(body)
		}
		batch = append(batch, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))})
		if len(batch) == 10 {
			flush()
		}
	}
	flush()
	// Messages not deleted, in flight or not (goaws counts both).
	inQueue := func() int {
		t.Helper()
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: made.QueueUrl})
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
		if err != nil {
			t.Fatalf("ApproximateNumberOfMessages: %v", err)
		}
		return n
	}
	if n := inQueue(); n != thousand {
		t.Fatalf("%d messages in the queue, want %d", n, thousand)
	}

	// The server reads the queue through a proxy that, once armed, holds
	// the next DeleteMessage until the server dies: the kill then lands
	// after a message's runs committed and before the message is deleted,
	// the window a lost or doubled run would come from.
	holder := &deleteHolder{held: make(chan struct{})}
	goaws, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(goaws)
	// The long poll the kill cuts is no error worth a line.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	holder.next = rp
	proxy := httptest.NewServer(holder)
	defer proxy.Close()
	queueURL, err := url.Parse(aws.ToString(made.QueueUrl))
	if err != nil {
		t.Fatal(err)
	}
	queueURL.Host = strings.TrimPrefix(proxy.URL, "http://")

	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.args = append(e.args, "--debug")
	e.writeFlow("queued", fmt.Sprintf("name: queued\ntrigger:\n  s3_event: {connection: vg, bucket: reports, prefix: in/, suffix: .csv, "+
		"queue_url: %q, queue_protocol: query}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [\"{{ trigger.key }}\"]}}\n", queueURL.String()))
	e.start()
	db, err := store.Open(t.Context(), filepath.Join(e.home, "s3flow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Killed once 100 runs exist, while a deletion is held.
	waitFor(t, func() bool { total, _ := runKeys(t, db, "queued"); return total >= 100 })
	holder.armed.Store(true)
	select {
	case <-holder.held:
	case <-time.After(60 * time.Second):
		t.Fatalf("no DeleteMessage to hold within 60 s:\n%s", e.srvLog)
	}
	e.stop(syscall.SIGKILL)
	atKill, _ := runKeys(t, db, "queued")
	if atKill >= thousand {
		t.Fatalf("all %d runs were queued before the kill: the test shows nothing", atKill)
	}
	left := inQueue()
	e.start()
	waitFor(t, func() bool { return inQueue() == 0 })
	total, keys := runKeys(t, db, "queued")
	checkOnce(t, total, keys, want)
	e.stop(syscall.SIGTERM)
	// The restarted server's log (start begins a new one): the messages
	// it took, and those among them whose runs the killed server had
	// committed but not deleted (the held one at least).
	srvLog := e.srvLog.String()
	taken, seen := strings.Count(srvLog, "s3_event: queue message taken"), strings.Count(srvLog, "duplicates=1")
	if seen < 1 {
		t.Errorf("the restarted server found no message already taken; the held one was")
	}
	// At least: on a busy machine a message may outlast its 2 s and be
	// taken twice, a duplicate the second time.
	if taken < left {
		t.Errorf("the restarted server took %d messages, want at least the %d left", taken, left)
	}
	t.Logf("killed at %d runs, %d messages left, %d of them already taken; whole test %s",
		atKill, left, seen, time.Since(begin).Round(time.Millisecond))
}

// deleteHolder passes SQS requests on to goaws; once armed, it holds the
// first DeleteMessage (never passing it on) until its client goes away,
// and closes held when it has it.
type deleteHolder struct {
	next  http.Handler
	armed atomic.Bool
	once  sync.Once
	held  chan struct{}
}

func (d *deleteHolder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if d.armed.Load() && bytes.Contains(body, []byte("Action=DeleteMessage")) {
		first := false
		d.once.Do(func() { first = true })
		if first {
			close(d.held)
			<-r.Context().Done()
			return
		}
	}
	d.next.ServeHTTP(w, r)
}
