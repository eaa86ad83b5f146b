// Command serverload fires webhook calls at a running "s3flow server",
// then reads every run back through the API and reports how long runs
// waited to start and to finish, counted from the moment each webhook was
// sent. The server and this program must share a clock (one machine):
// run start and finish times come from the server's run history.
//
//	BENCH_HOOK_SECRET=... BENCH_TOKEN=... serverload -url http://127.0.0.1:8080 -flow tick -n 1000 -c 16
//
// Details go to stderr; stdout gets one Markdown table row (see -label)
// for bench/server-load.sh to collect.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

type options struct {
	url, flow, label     string
	secretEnv, tokenEnv  string
	n, concurrency       int
	rate                 float64
	timeout, pollBetween time.Duration
}

func main() {
	o := options{}
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the server's base URL")
	flag.StringVar(&o.flow, "flow", "tick", "a flow with a webhook trigger")
	flag.StringVar(&o.label, "label", "server", "the configuration's name in the table row")
	flag.StringVar(&o.secretEnv, "secret-env", "BENCH_HOOK_SECRET", "variable holding the webhook secret (sent as X-S3flow-Token)")
	flag.StringVar(&o.tokenEnv, "token-env", "BENCH_TOKEN", "variable holding an API token (s3flow token create)")
	flag.IntVar(&o.n, "n", 1000, "webhook calls to make")
	flag.IntVar(&o.concurrency, "c", 16, "webhook calls in flight at once")
	flag.Float64Var(&o.rate, "rate", 0, "webhook calls per second, at most (0: as fast as -c callers get answers)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for every run to finish")
	flag.DurationVar(&o.pollBetween, "poll", 250*time.Millisecond, "how often to ask whether runs are still queued or running")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "serverload:", err)
		os.Exit(1)
	}
}

// sent is one webhook call: when it left, how long the answer took, and
// the run it started.
type sent struct {
	at     time.Time
	answer time.Duration
	runID  string
}

// runView is the part of GET /api/runs/{id} that is measured.
type runView struct {
	Run struct {
		Status   string     `json:"status"`
		Finished *time.Time `json:"finishedAt"`
		Worker   string     `json:"worker"`
	} `json:"run"`
	Events []struct {
		Started time.Time `json:"startedAt"`
	} `json:"events"`
}

func run(ctx context.Context, o options) error {
	secret, token := os.Getenv(o.secretEnv), os.Getenv(o.tokenEnv)
	if secret == "" || token == "" {
		return fmt.Errorf("set $%s (the webhook secret) and $%s (an API token)", o.secretEnv, o.tokenEnv)
	}
	if o.n < 1 || o.concurrency < 1 {
		return fmt.Errorf("-n and -c must be at least 1, got %d and %d", o.n, o.concurrency)
	}
	client := &http.Client{
		Timeout: 30 * time.Second,
		// Keep one connection per caller: the default keeps two idle,
		// and the rest would be dialled again for every call.
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency},
	}

	calls, err := fire(ctx, client, o, secret)
	if err != nil {
		return err
	}
	took, acceptRate := accepted(calls)
	fmt.Fprintf(os.Stderr, "%s: %d webhooks answered in %v, first sent to last answered (%.0f/s)\n",
		o.label, len(calls), took.Round(time.Millisecond), acceptRate)

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := waitIdle(ctx, client, o, token); err != nil {
		return err
	}
	views, err := readRuns(ctx, client, o, token, calls)
	if err != nil {
		return err
	}
	return report(o, calls, views)
}

// fire makes o.n webhook calls, o.concurrency at a time, in call order;
// with o.rate, call i is sent no earlier than i/o.rate seconds after the
// first (later if all callers are busy).
func fire(ctx context.Context, client *http.Client, o options, secret string) ([]sent, error) {
	calls := make([]sent, o.n)
	errs := make([]error, o.n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for i := range next {
				calls[i], errs[i] = hook(ctx, client, o, secret, i)
			}
		})
	}
	begin := time.Now()
	for i := range o.n {
		if o.rate > 0 {
			time.Sleep(time.Until(begin.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))))
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Sorted by send time, so calls[0] is the first sent.
	sort.Slice(calls, func(i, j int) bool { return calls[i].at.Before(calls[j].at) })
	return calls, nil
}

// accepted is the time from the first call sent to the last answer
// received, and the calls answered per second over it. The last answer,
// not the last call sent: with c callers, the last call leaves while c-1
// answers are still to come.
func accepted(calls []sent) (time.Duration, float64) {
	first, last := calls[0].at, calls[0].at
	for _, c := range calls {
		last = maxTime(last, c.at.Add(c.answer))
	}
	took := last.Sub(first)
	return took, float64(len(calls)) / took.Seconds()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func hook(ctx context.Context, client *http.Client, o options, secret string, i int) (sent, error) {
	body := fmt.Appendf(nil, `{"call":%d}`, i)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url+"/hooks/"+o.flow, bytes.NewReader(body))
	if err != nil {
		return sent{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-S3flow-Token", secret)
	s := sent{at: time.Now()}
	resp, err := client.Do(req)
	if err != nil {
		return sent{}, fmt.Errorf("webhook call %d: %w", i, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.answer = time.Since(s.at)
	if err != nil {
		return sent{}, fmt.Errorf("webhook call %d: read the answer: %w", i, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return sent{}, fmt.Errorf("webhook call %d: %s: %s", i, resp.Status, bytes.TrimSpace(data))
	}
	var answer struct {
		Run string `json:"run"`
	}
	if err := json.Unmarshal(data, &answer); err != nil || answer.Run == "" {
		return sent{}, fmt.Errorf("webhook call %d: no run id in %q", i, data)
	}
	s.runID = answer.Run
	return s, nil
}

// waitIdle waits until the flow has no run queued or running. It asks
// for one run of each status a few times a second rather than reading
// every run while they are worked, so the waiting adds little load.
func waitIdle(ctx context.Context, client *http.Client, o options, token string) error {
	for {
		busy := false
		for _, status := range []string{"queued", "running"} {
			var rs []json.RawMessage
			if err := getJSON(ctx, client, o.url+"/api/runs?limit=1&flow="+o.flow+"&status="+status, token, &rs); err != nil {
				return fmt.Errorf("wait for the runs to finish: %w", err)
			}
			busy = busy || len(rs) > 0
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("runs still queued or running after %v: %w", o.timeout, ctx.Err())
		case <-time.After(o.pollBetween):
		}
	}
}

// readRuns reads every run with its events; one not finished yet (the
// history may lag the status check by a moment) is read again.
func readRuns(ctx context.Context, client *http.Client, o options, token string, calls []sent) ([]runView, error) {
	views := make([]runView, len(calls))
	errs := make([]error, len(calls))
	next := make(chan int)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for i := range next {
				views[i], errs[i] = readRun(ctx, client, o, token, calls[i].runID)
			}
		})
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	return views, errors.Join(errs...)
}

func readRun(ctx context.Context, client *http.Client, o options, token, id string) (runView, error) {
	for {
		var v runView
		if err := getJSON(ctx, client, o.url+"/api/runs/"+id, token, &v); err != nil || v.Run.Finished != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("run %s is still %s: %w", id, v.Run.Status, ctx.Err())
		case <-time.After(o.pollBetween):
		}
	}
}

func getJSON(ctx context.Context, client *http.Client, url, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, v)
}

func report(o options, calls []sent, views []runView) error {
	var start, finish, answer []time.Duration
	statuses, workers := map[string]int{}, map[string]int{}
	first, last := calls[0].at, calls[0].at
	for i, v := range views {
		statuses[v.Run.Status]++
		workers[v.Run.Worker]++
		answer = append(answer, calls[i].answer)
		if len(v.Events) == 0 || v.Run.Finished == nil {
			return fmt.Errorf("run %s (%s) has no step event or no finish time", calls[i].runID, v.Run.Status)
		}
		start = append(start, v.Events[0].Started.Sub(calls[i].at))
		finish = append(finish, v.Run.Finished.Sub(calls[i].at))
		if v.Run.Finished.After(last) {
			last = *v.Run.Finished
		}
	}
	rate := float64(len(views)) / last.Sub(first).Seconds()
	w := os.Stderr
	fmt.Fprintf(w, "%s: %d runs %v, by worker %v; first send to last finish %v: %.1f runs/s\n",
		o.label, len(views), statuses, workers, last.Sub(first).Round(time.Millisecond), rate)
	fmt.Fprintf(w, "%-26s %9s %9s %9s %9s %9s\n", "latency from webhook sent", "min", "p50", "p90", "p99", "max")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"hook answered", answer}, {"run started (1st step)", start}, {"run finished", finish}} {
		slices.Sort(row.d)
		fmt.Fprintf(w, "%-26s %9s %9s %9s %9s %9s\n", row.name, ms(row.d[0]),
			ms(pct(row.d, 50)), ms(pct(row.d, 90)), ms(pct(row.d, 99)), ms(row.d[len(row.d)-1]))
	}
	if statuses["succeeded"] != len(views) {
		return fmt.Errorf("%d of %d runs succeeded: %v", statuses["succeeded"], len(views), statuses)
	}
	// config | callers | runs | webhooks answered/s | runs worked/s | start p50 | start p99 | finish p50 | finish p99 | hook answer p50/p99
	_, acceptRate := accepted(calls)
	fmt.Printf("| %s | %d | %d | %.0f | %.0f | %s | %s | %s | %s | %s / %s |\n", o.label, o.concurrency, len(views), acceptRate, rate,
		ms(pct(start, 50)), ms(pct(start, 99)), ms(pct(finish, 50)), ms(pct(finish, 99)),
		ms(pct(answer, 50)), ms(pct(answer, 99)))
	return nil
}

// pct is the p-th percentile of sorted d (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	i := (p*len(d)+99)/100 - 1
	return d[max(i, 0)]
}

func ms(d time.Duration) string {
	s := fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	return strings.TrimSuffix(s, ".0") + " ms"
}
