package cli

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/locals3"
)

// setupResolver gives a resolver on a fresh home whose endpoint starts are
// counted; fail makes the first n starts fail.
func setupResolver(t *testing.T, fail int32) (*connResolver, *atomic.Int32) {
	t.Helper()
	setup(t)
	io, _, _ := TestIO("")
	a := newApp(io)
	t.Cleanup(a.close)
	st, err := a.connections(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	home, err := a.home()
	if err != nil {
		t.Fatal(err)
	}
	r := newConnResolver(st, home, slog.New(slog.DiscardHandler), true)
	t.Cleanup(r.close)
	starts := &atomic.Int32{}
	r.start = func(ctx context.Context, o locals3.Options) (*locals3.Server, error) {
		if starts.Add(1) <= fail {
			return nil, errors.New("start failed on purpose")
		}
		return locals3.Start(ctx, o)
	}
	return r, starts
}

// TestResolverStartsLocalOnce: a server's workers and handlers resolve the
// local connection at once; one endpoint starts for all of them (two
// would share one data folder), and all get its address.
func TestResolverStartsLocalOnce(t *testing.T) {
	r, starts := setupResolver(t, 0)
	const callers = 8
	var (
		wg        sync.WaitGroup
		go1       = make(chan struct{})
		endpoints = make([]string, callers)
		errs      = make([]error, callers)
	)
	for i := range callers {
		wg.Go(func() {
			<-go1
			var conn connection.Connection
			conn, errs[i] = r.Connection(t.Context(), connection.LocalName)
			endpoints[i] = conn.Endpoint
		})
	}
	close(go1)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("%d local endpoints started, want 1", n)
	}
	for i, e := range endpoints {
		if e == "" || e != endpoints[0] {
			t.Errorf("caller %d got endpoint %q, want %q (the same for all)", i, e, endpoints[0])
		}
	}
}

// TestResolverRetriesFailedStart: a start that failed is not remembered;
// the next caller starts the endpoint.
func TestResolverRetriesFailedStart(t *testing.T) {
	r, starts := setupResolver(t, 1)
	if _, err := r.Connection(t.Context(), connection.LocalName); err == nil {
		t.Fatal("first resolve succeeded, want the start's error")
	}
	conn, err := r.Connection(t.Context(), connection.LocalName)
	if err != nil {
		t.Fatalf("second resolve: %v", err)
	}
	if conn.Endpoint == "" {
		t.Error("second resolve gave no endpoint")
	}
	if n := starts.Load(); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
}

// TestResolverGivesUpWhenContextEnds: a caller waiting for another's start
// stops waiting when its own context ends.
func TestResolverGivesUpWhenContextEnds(t *testing.T) {
	r, _ := setupResolver(t, 0)
	r.sem <- struct{}{} // a start in progress
	defer func() { <-r.sem }()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Connection(ctx, connection.LocalName); !errors.Is(err, context.Canceled) {
		t.Fatalf("resolve while another starts, with an ended context: %v, want context.Canceled", err)
	}
}

// TestResolverUsesRunningServe: while "s3flow local serve" runs, the local
// connection is its endpoint, and no endpoint of our own starts (two on one
// data folder would fight over it).
func TestResolverUsesRunningServe(t *testing.T) {
	r, starts := setupResolver(t, 0)
	serve, err := locals3.Start(t.Context(), localOptions(mustFind(t), r.home, mustLocal(t, r)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Stop() })
	unadvertise, err := locals3.Advertise(r.home, locals3.Running{Endpoint: serve.Endpoint, Pid: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	defer unadvertise()
	conn, err := r.Connection(t.Context(), connection.LocalName)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Endpoint != serve.Endpoint {
		t.Errorf("endpoint = %q, want the running serve's %q", conn.Endpoint, serve.Endpoint)
	}
	if n := starts.Load(); n != 0 {
		t.Errorf("%d endpoints started while a serve runs", n)
	}
	if r.temporaryLocal() {
		t.Error("temporaryLocal = true for a running serve's endpoint")
	}
}

func mustFind(t *testing.T) string {
	t.Helper()
	exe, err := locals3.Find(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func mustLocal(t *testing.T, r *connResolver) connection.Connection {
	t.Helper()
	conn, err := r.store.Get(t.Context(), connection.LocalName)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestResolverAdvertises: a server's resolver writes the endpoint it starts
// where the CLI looks for one, and removes it when it closes, so commands
// run beside a server use its endpoint instead of failing on the data
// folder's lock.
func TestResolverAdvertises(t *testing.T) {
	r, _ := setupResolver(t, 0)
	r.advertise = true
	conn, err := r.Connection(t.Context(), connection.LocalName)
	if err != nil {
		t.Fatal(err)
	}
	running, ok := locals3.Lookup(t.Context(), r.home)
	if !ok || running.Endpoint != conn.Endpoint || running.Pid != os.Getpid() {
		t.Fatalf("Lookup = %+v, %v; want %s of pid %d", running, ok, conn.Endpoint, os.Getpid())
	}
	r.close()
	if _, err := os.Stat(locals3.RunningFile(r.home)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after close, %s: %v", locals3.RunningFile(r.home), err)
	}
}

// warnings is a slog handler that passes on each warning's message.
type warnings chan string

func (w warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w warnings) Handle(_ context.Context, rec slog.Record) error {
	w <- rec.Message
	return nil
}
func (w warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnings) WithGroup(string) slog.Handler      { return w }

// TestResolverWaitsForAnotherEndpoint: while another command's endpoint
// holds the data folder, the resolver starts none (two must never serve
// one folder): it says it waits, once, and starts its own when that one
// ends; a caller whose context ends stops waiting, told why.
func TestResolverWaitsForAnotherEndpoint(t *testing.T) {
	r, starts := setupResolver(t, 0)
	warns := make(warnings, 16)
	r.logger = slog.New(warns)
	release, err := locals3.LockData(locals3.Root(r.home))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { release() }()

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := r.Connection(ctx, connection.LocalName)
		errc <- err
	}()
	if msg := <-warns; !strings.Contains(msg, "waiting for another s3flow command's local endpoint") {
		t.Fatalf("warning %q", msg)
	}
	cancel()
	err = <-errc
	if !errors.As(err, new(*locals3.InUseError)) || !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait: err = %v, want the folder in use and the cancellation", err)
	}

	type result struct {
		conn connection.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := r.Connection(t.Context(), connection.LocalName)
		done <- result{conn, err}
	}()
	<-warns
	if n := starts.Load(); n != 0 {
		t.Fatalf("%d endpoints started while the folder is held", n)
	}
	release()
	release = func() {}
	res := <-done
	if res.err != nil || res.conn.Endpoint == "" {
		t.Fatalf("after the other endpoint ended: %+v, %v", res.conn.Endpoint, res.err)
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("%d endpoints started, want 1", n)
	}
	select {
	case msg := <-warns:
		t.Errorf("more warnings than one a wait: %q", msg)
	default:
	}
}
