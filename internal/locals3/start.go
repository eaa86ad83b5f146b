// Package locals3 is the offline default: an S3-compatible endpoint whose
// buckets are folders and objects are files under $S3FLOW_HOME/local-s3.
// The endpoint itself is the s3flow-local program (package gateway, which
// links versitygw); this package finds it, starts it on a free 127.0.0.1
// port with the local connection's credentials, and stops it.
package locals3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HealthPath is answered 200 by a running endpoint, without signing.
const HealthPath = "/_s3flow_health"

// Root returns where the local endpoint keeps its buckets.
func Root(home string) string { return filepath.Join(home, "local-s3") }

// Server is a running local endpoint in a child process.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan error
}

// Options say what the endpoint serves and how to run it.
type Options struct {
	// Executable is the s3flow-local program (see Find); Args are its
	// arguments before the ones Command adds, with Args[0] the name the
	// child sees ("s3flow-local" when empty).
	Executable string
	Args       []string
	// Env is added to the child's environment, which otherwise holds only
	// what a program needs to run (see ChildEnv).
	Env []string
	// Root holds the buckets; Region is the region the endpoint reports.
	Root   string
	Region string
	// AccessKeyID and Secret are the only credentials it accepts. The
	// child reads them from its stdin, never from its arguments, which
	// any user of the machine can read in ps.
	AccessKeyID string
	Secret      string
	// EventsFile is where a running s3flow server of the home says it
	// takes the endpoint's S3 events (EventsFile); "" sends none.
	EventsFile string
	// LogFile receives the child's output when Start runs it.
	LogFile string
	// ReadyTimeout bounds Start's wait for the health check.
	ReadyTimeout time.Duration
}

// Command returns the child process serving on addr (host:port), with its
// credentials on stdin; the caller sets its output and starts it.
func Command(o Options, addr string) *exec.Cmd {
	cmd := exec.Command(o.Executable)
	args := o.Args
	if len(args) == 0 {
		args = []string{HelperName}
	}
	cmd.Args = append(append([]string{}, args...), "--root", o.Root, "--region", o.Region, "--addr", addr)
	if o.EventsFile != "" {
		cmd.Args = append(cmd.Args, "--events-file", o.EventsFile)
	}
	cmd.Env = append(ChildEnv(os.Environ()), o.Env...)
	cmd.Stdin = strings.NewReader(o.AccessKeyID + "\n" + o.Secret + "\n")
	cmd.SysProcAttr = childAttr()
	return cmd
}

// ChildEnv keeps of environ what the endpoint needs to run: PATH, HOME,
// the locale (LANG, LANGUAGE, LC_*) and TMPDIR. The parent's environment
// holds secrets the endpoint has no use for (webhook secrets,
// S3FLOW_ENCRYPTION_KEY, AWS_*, PGPASSWORD); its own credentials reach it
// on stdin.
func ChildEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH", name == "HOME", name == "TMPDIR", name == "LANG", name == "LANGUAGE",
			strings.HasPrefix(name, "LC_"):
			out = append(out, kv)
		}
	}
	return out
}

// ReadCredentials reads what Command writes to the child's stdin.
func ReadCredentials(r io.Reader) (accessKeyID, secret string, err error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", "", fmt.Errorf("read the credentials from stdin: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		return "", "", errors.New("stdin must hold two lines: the access key id, then the secret access key")
	}
	return lines[0], lines[1], nil
}

// Start runs the endpoint in a child process on a free 127.0.0.1 port and
// waits until it answers its health check. It fails with *InUseError when
// another s3flow-local serves o.Root.
func Start(ctx context.Context, o Options) (*Server, error) {
	var lastErr error
	// A free port can be taken between our probe and the child's bind.
	for range 3 {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s, err := StartOn(ctx, o, addr, nil)
		if err == nil {
			return s, nil
		}
		if errors.As(err, new(*InUseError)) {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

// StartOn runs the endpoint on addr and waits until it answers its health
// check. Its output goes to out, or to o.LogFile when out is nil.
func StartOn(ctx context.Context, o Options, addr string, out io.Writer) (*Server, error) {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 20 * time.Second
	}
	cmd := Command(o, addr)
	cmd.Stdout, cmd.Stderr = out, out
	if out == nil && o.LogFile != "" {
		f, err := os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open local endpoint log: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start local endpoint: %w", err)
	}
	s := &Server{Endpoint: endpointFor(addr), cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	if err := s.waitReady(ctx, o.ReadyTimeout); err != nil {
		s.Stop()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == ExitInUse {
			return nil, &InUseError{Root: o.Root, Pid: lockHolder(o.Root)}
		}
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		resp, err := client.Get(s.Endpoint + HealthPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("local endpoint exited before it was ready (%w); see local-s3.log in S3FLOW_HOME", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("local endpoint did not answer %s within %s", s.Endpoint, timeout)
		}
	}
}

// Wait waits for the child to end, and returns how it ended.
func (s *Server) Wait() error {
	err := <-s.exited
	s.exited <- err
	return err
}

// Pid is the child's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop ends the child: SIGTERM, then SIGKILL after 5 seconds.
func (s *Server) Stop() error {
	if s == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		s.exited <- <-s.exited
	}
	return nil
}

// endpointFor is the URL that reaches an endpoint listening on addr: one
// listening on every address (":9000", "0.0.0.0:9000", "[::]:9000") is
// reached on 127.0.0.1.
func endpointFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
