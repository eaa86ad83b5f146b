package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/locals3"
)

// connResolver gives ready connections by name from one store; for the
// local connection that means its endpoint runs. It starts that endpoint at
// most once however many goroutines ask at once (a server's workers and
// handlers do), since two children on one data folder would fight over it.
// A start that fails is not remembered: the next call tries again.
type connResolver struct {
	store        *connection.Store
	home         string
	logger       *slog.Logger
	allowPrivate bool
	// start starts the endpoint; tests count its calls.
	start func(context.Context, locals3.Options) (*locals3.Server, error)

	// sem is a lock that a waiting caller can give up on when its context
	// ends; it guards local and seeded, and is held while the endpoint
	// starts, so that callers wait for the one start instead of making
	// their own.
	sem    chan struct{}
	local  *locals3.Server
	seeded bool
	// lookup finds a running "s3flow local serve"; tests replace it.
	lookup func(context.Context, string) (locals3.Running, bool)
	// advertise writes the endpoint this resolver starts where other
	// processes of the home look for a running one (locals3.Advertise), as
	// "s3flow local serve" does: a server runs long, and the CLI commands
	// run beside it could not start one of their own (one endpoint per
	// data folder). unadvertise removes it again.
	advertise   bool
	unadvertise func()
}

// newConnResolver resolves from st, with home's local endpoint. The CLI
// runs as the machine's own user, so it allows private addresses; a
// server decides that itself.
func newConnResolver(st *connection.Store, home string, logger *slog.Logger, allowPrivate bool) *connResolver {
	return &connResolver{store: st, home: home, logger: logger, allowPrivate: allowPrivate,
		start: locals3.Start, lookup: locals3.Lookup, sem: make(chan struct{}, 1)}
}

// Connection returns the named connection ready to use.
func (r *connResolver) Connection(ctx context.Context, name string) (connection.Connection, error) {
	conn, err := r.store.Get(ctx, name)
	if err != nil {
		return connection.Connection{}, err
	}
	conn.AllowPrivate = r.allowPrivate
	if conn.Kind != connection.KindLocal {
		return conn, nil
	}
	endpoint, err := r.localEndpoint(ctx, conn)
	if err != nil {
		return connection.Connection{}, err
	}
	conn.Endpoint = endpoint
	return conn, nil
}

// localEndpoint returns the endpoint of a running "s3flow local serve" of
// this home, else starts one of its own (a temporary one, which ends with
// this process) if it has none; it fills the demo bucket on first use.
func (r *connResolver) localEndpoint(ctx context.Context, conn connection.Connection) (string, error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-r.sem }()
	endpoint, err := r.ownOrRunning(ctx, conn)
	if err != nil {
		return "", err
	}
	if !r.seeded {
		conn.Endpoint = endpoint
		if err := seedLocal(ctx, conn, r.home, r.logger); err != nil {
			return "", err
		}
		r.seeded = true
	}
	return endpoint, nil
}

// ownOrRunning returns the endpoint this resolver started, else a running
// serve's (asked again on every call: a serve that ended is not used, and
// links made while one runs point to it), else starts one. While another
// command's temporary endpoint holds the data folder, it waits for that
// one to end or for a serve to appear, and says so once: commands run side
// by side take turns, since two endpoints must never serve one folder.
func (r *connResolver) ownOrRunning(ctx context.Context, conn connection.Connection) (string, error) {
	if r.local != nil {
		return r.local.Endpoint, nil
	}
	exe, err := locals3.Find(ctx)
	if err != nil {
		return "", err
	}
	root := locals3.Root(r.home)
	said := false
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		if running, ok := r.lookup(ctx, r.home); ok {
			return running.Endpoint, nil
		}
		err := locals3.Free(root)
		if err == nil {
			var srv *locals3.Server
			srv, err = r.start(ctx, localOptions(exe, r.home, conn))
			if err == nil {
				r.local = srv
				r.advertiseLocal(ctx)
				return srv.Endpoint, nil
			}
		}
		var inUse *locals3.InUseError
		if !errors.As(err, &inUse) {
			return "", err
		}
		if !said {
			r.logger.WarnContext(ctx, "waiting for another s3flow command's local endpoint to end; run \"s3flow local serve\" so that commands share one", "pid", inUse.Pid)
			said = true
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (stopped waiting: %w)", inUse, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// advertiseLocal writes the endpoint this resolver started where the
// other processes of the home look, when it is to.
func (r *connResolver) advertiseLocal(ctx context.Context) {
	if !r.advertise {
		return
	}
	un, err := locals3.Advertise(r.home, locals3.Running{Endpoint: r.local.Endpoint, Pid: os.Getpid()})
	if err != nil {
		// Only the other processes lose: they wait for this one to end.
		r.logger.WarnContext(ctx, "other s3flow commands will not find the local endpoint", "err", err)
		return
	}
	r.unadvertise = un
}

// temporaryLocal reports whether the local endpoint this resolver gives
// out is its own, which ends with this process, rather than a running
// "s3flow local serve".
func (r *connResolver) temporaryLocal() bool {
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	return r.local != nil
}

// close stops the local endpoint if it was started; it waits for a start
// in progress to end first.
func (r *connResolver) close() {
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	if r.unadvertise != nil {
		r.unadvertise()
		r.unadvertise = nil
	}
	if r.local != nil {
		r.local.Stop()
		r.local = nil
	}
}
