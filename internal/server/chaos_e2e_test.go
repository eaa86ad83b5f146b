package server_test

import (
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/faultproxy"
	"github.com/s3flow/s3flow/internal/s3test"
)

// The chaos test tries up to chaosSeeds seeds but starts no new one after
// chaosBudget (enough for all 50 on a 2-core machine, about 4 s each); it
// fails when the budget let fewer than chaosMinSeeds run.
const (
	chaosSeeds    = 50
	chaosBudget   = 300 * time.Second
	chaosMinSeeds = 10
)

// TestKillChaos is TestKillResume with the dice rolled: for each seed, a
// run uploading 8 to 12 files through a proxy that fails random uploads
// once or twice (500, 503 SlowDown, a reset connection: faults the SDK's
// retries absorb) is SIGKILLed once or twice at random points and the
// server restarted each time. The run must succeed with every file in the
// bucket exactly as it should be, no file sent to S3 more than twice and
// only the files in flight at a kill sent again, and one resumed-run event
// per restart. A seed is replayed alone with -run 'TestKillChaos/seed=N'.
func TestKillChaos(t *testing.T) {
	tg := s3test.Versitygw(t)
	start := time.Now()
	ran, cut := 0, false
	for seed := uint64(1); seed <= chaosSeeds; seed++ {
		if time.Since(start) > chaosBudget {
			cut = true
			break
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ran++
			killChaos(t, tg, seed)
		})
	}
	t.Logf("%d seeds ran in %s", ran, time.Since(start).Round(time.Millisecond))
	if cut && ran < chaosMinSeeds {
		t.Errorf("only %d seeds ran in %s, want at least %d: the machine is too slow or a seed hangs", ran, chaosBudget, chaosMinSeeds)
	}
}

// chaosPlan is what one seed decides.
type chaosPlan struct {
	files []string
	// pre delays each upload at the proxy before it goes on to S3, post
	// after S3 answered it: kills land before, during and after the work.
	pre, post time.Duration
	// faults are the failures of each file's first attempts, by key.
	faults map[string][]faultproxy.Fault
	// kills are how many uploads S3 answers before each kill, counted from
	// the previous kill; 0 kills at once, before any upload.
	kills []int
	// after is the time between the answer that reaches the count and
	// the kill.
	after []time.Duration
}

func newChaosPlan(seed uint64) chaosPlan {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var p chaosPlan
	n := 8 + r.IntN(5)
	for i := range n {
		p.files = append(p.files, fmt.Sprintf("f%02d", i))
	}
	p.pre = time.Duration(15+r.IntN(26)) * time.Millisecond
	p.post = time.Duration(15+r.IntN(26)) * time.Millisecond
	p.faults = map[string][]faultproxy.Fault{}
	rate := 0.15 + 0.35*r.Float64()
	for _, f := range p.files {
		if r.Float64() >= rate {
			continue
		}
		// At most two failures: the SDK's default of three attempts
		// absorbs them.
		for range 1 + r.IntN(2) {
			var fault faultproxy.Fault
			switch r.IntN(5) {
			case 0:
				// Throttling backs off from 1 s instead of 50 ms: keep it
				// rare, and without a Retry-After that would add more.
				fault = faultproxy.SlowDown()
				fault.RetryAfter = 0
			case 1, 2:
				fault = faultproxy.InternalError()
			default:
				// The connection is reset after part of the request: the
				// upload never reaches S3.
				fault = faultproxy.Fault{Kind: faultproxy.ResetRequest, Bytes: int64(r.IntN(64))}
			}
			p.faults["incoming/"+f+".txt"] = append(p.faults["incoming/"+f+".txt"], fault)
		}
	}
	// The first kill comes after 0 to n-2 answered uploads, leaving at
	// least one never sent; a second one, when there is room, at least two
	// answers after the restart, so that it never finds the upload the
	// first one interrupted still in flight.
	first := r.IntN(n - 1)
	p.kills = append(p.kills, first)
	if left := n - first; r.IntN(2) == 0 && left >= 4 {
		p.kills = append(p.kills, 2+r.IntN(left-3))
	}
	// The kill comes while the answer is on its way to the server, while
	// it records it, or while the next upload is on its way to S3.
	for range p.kills {
		p.after = append(p.after, time.Duration(r.Int64N(int64(p.post+p.pre))))
	}
	return p
}

// chaosProxy is a faultproxy in front of a slow proxy to S3. The
// faultproxy fails uploads as the plan says and logs every attempt; what
// it lets through, the slow proxy delays and counts: the uploads sent to
// S3, those S3 answered with 200, and those still in its hands.
type chaosProxy struct {
	*faultproxy.Proxy
	mu       sync.Mutex
	sent     map[string]int
	stored   map[string]int
	answered int
	inFlight int
}

func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/incoming/")
}

func newChaosProxy(t *testing.T, endpoint, bucket string, p chaosPlan) *chaosProxy {
	cp := &chaosProxy{sent: map[string]int{}, stored: map[string]int{}}
	key := func(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, "/"+bucket+"/") }
	target, _ := url.Parse(endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if isUpload(resp.Request) && resp.StatusCode == http.StatusOK {
			cp.mu.Lock()
			cp.answered++
			cp.stored[key(resp.Request)]++
			cp.mu.Unlock()
			time.Sleep(p.post)
		}
		return nil
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpload(r) {
			rp.ServeHTTP(w, r)
			return
		}
		cp.mu.Lock()
		cp.inFlight++
		cp.mu.Unlock()
		defer func() {
			cp.mu.Lock()
			cp.inFlight--
			cp.mu.Unlock()
		}()
		time.Sleep(p.pre)
		cp.mu.Lock()
		cp.sent[key(r)]++
		cp.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	cp.Proxy = faultproxy.New(t, slow.URL)
	for key, faults := range p.faults {
		for i, f := range faults {
			cp.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "PutObject", Key: key}, Nth: i + 1, Fault: f})
		}
	}
	return cp
}

func (cp *chaosProxy) counts() (answered, distinct int) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.answered, len(cp.stored)
}

// settle waits until no upload is left in the slow proxy, and returns the
// key of the last upload the faultproxy saw.
func (cp *chaosProxy) settle(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp.mu.Lock()
		n := cp.inFlight
		cp.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d uploads still at the proxy 10 s after the kill", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	last := ""
	for _, r := range cp.Requests() {
		if r.Op == "PutObject" && strings.HasPrefix(r.Key, "incoming/") {
			last = r.Key
		}
	}
	return last
}

func killChaos(t *testing.T, tg s3test.Target, seed uint64) {
	p := newChaosPlan(seed)
	faulted := slices.Sorted(func(yield func(string) bool) {
		for key, faults := range p.faults {
			if !yield(fmt.Sprintf("%s×%d", strings.TrimPrefix(key, "incoming/"), len(faults))) {
				return
			}
		}
	})
	t.Logf("seed %d: %d files, %s+%s per upload, faults %v, kills after %v answers (+%v)",
		seed, len(p.files), p.pre, p.post, faulted, p.kills, p.after)

	bucket := tg.Bucket(t)
	cp := newChaosProxy(t, tg.Conn.Endpoint, bucket, p)
	e := newEnv(t, tg, cp.URL)
	e.writeFlow("chaos", fmt.Sprintf(uploadFlow, "chaos", bucket))
	e.start()
	id := e.hook("chaos", map[string]any{"files": p.files})

	// inFlight holds, for each kill, the last upload the proxy saw before
	// the restart: the only one the restarted run may send again.
	var inFlight []string
	// reusable is how many uploads the runs restarted after a kill at
	// least find done (all answered but the one in flight).
	reusable := 0
	// from is how many uploads S3 had answered at the last kill.
	from := 0
	for k, answers := range p.kills {
		deadline := time.Now().Add(20 * time.Second)
		for {
			a, d := cp.counts()
			if a >= from+answers {
				break
			}
			if d == len(p.files) || time.Now().After(deadline) {
				t.Fatalf("kill %d: %d uploads answered, waiting for %d, the run is done or stuck:\n%s", k+1, a, from+answers, e.srvLog)
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(p.after[k])
		e.stop(syscall.SIGKILL)
		// An upload the server sent just before it died may reach the
		// proxy a moment later, and S3 after that.
		time.Sleep(20 * time.Millisecond)
		last := cp.settle(t)
		a, d := cp.counts()
		from = a
		if d == len(p.files) {
			t.Fatalf("kill %d came after the last upload; the seed proves nothing", k+1)
		}
		inFlight = append(inFlight, last)
		reusable += max(d-1, 0)
		t.Logf("kill %d: %d of %d files stored, %q in flight", k+1, d, len(p.files), last)
		e.start()
	}

	var run map[string]any
	var events []any
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, events = e.run(id)
		if s := run["status"]; s != "queued" && s != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is still %v after the restarts:\n%s", id, run["status"], e.srvLog)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if run["status"] != "succeeded" {
		t.Fatalf("run %s ended %v: %v\n%s", id, run["status"], run["error"], e.srvLog)
	}

	// The aws CLI fetches the whole bucket: exactly the files, each with
	// its contents.
	dir := t.TempDir()
	tg.AWS(t, "s3", "cp", "--recursive", "--only-show-errors", "s3://"+bucket, dir)
	got := map[string]string{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(path)
			rel, _ := filepath.Rel(dir, path)
			got[filepath.ToSlash(rel)] = string(data)
		}
		return err
	})
	for _, f := range p.files {
		key := "incoming/" + f + ".txt"
		if body, ok := got[key]; !ok {
			t.Errorf("%s is missing from the bucket", key)
		} else if body != "file "+f {
			t.Errorf("%s holds %q, want %q", key, body, "file "+f)
		}
		delete(got, key)
	}
	for key := range got {
		t.Errorf("the bucket holds %s, which the run never made", key)
	}

	// Nothing done twice but the uploads in flight at the kills.
	cp.mu.Lock()
	sent := maps.Clone(cp.sent)
	cp.mu.Unlock()
	for key, n := range sent {
		switch {
		case n > 2:
			t.Errorf("%s was sent to S3 %d times; at most twice (once more after the kill it was in flight at)", key, n)
		case n == 2 && !slices.Contains(inFlight, key):
			t.Errorf("%s was sent to S3 twice, though the kills found %v in flight; completed uploads must not repeat", key, inFlight)
		}
	}
	var resumed, reused, failed int
	for _, ev := range events {
		switch ev.(map[string]any)["status"] {
		case "resumed-run":
			resumed++
		case "reused":
			reused++
		case "failed", "retried":
			failed++
		}
	}
	// A run killed before it recorded anything starts afresh: no
	// resumed-run event for that restart.
	want := len(p.kills)
	if p.kills[0] == 0 && resumed == want-1 {
		want--
	}
	if resumed != want {
		t.Errorf("%d resumed-run events for %d restarts", resumed, len(p.kills))
	}
	if reused < reusable {
		t.Errorf("%d reused steps, want at least %d (the uploads done before the kills)", reused, reusable)
	}
	if failed > 0 {
		t.Errorf("%d steps failed or were retried; the SDK's retries should have absorbed every fault", failed)
	}
	var again []string
	for key, n := range sent {
		if n > 1 {
			again = append(again, key)
		}
	}
	t.Logf("succeeded: %d resumed-run events, %d reused steps, sent again: %v, faults applied: %d",
		resumed, reused, again, len(cp.Faulted()))
	if t.Failed() {
		t.Logf("uploads sent to S3: %v\nserver log:\n%s", sent, e.srvLog)
	}
}
