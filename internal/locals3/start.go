package locals3

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Root returns where the local endpoint keeps its buckets.
func Root(home string) string { return filepath.Join(home, "local-s3") }

// Server is a running local endpoint in a child process.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan error
}

// StartOptions say how to start the child.
type StartOptions struct {
	// Executable and Args run "local serve" in the child; Args[0] is the
	// program name the child sees. "--addr HOST:PORT" is appended.
	Executable string
	Args       []string
	// Env is added to the child's environment.
	Env []string
	// LogFile receives the child's output.
	LogFile string
	// ReadyTimeout bounds the wait for the health check.
	ReadyTimeout time.Duration
}

// Start runs the endpoint in a child process on a free 127.0.0.1 port and
// waits until it answers its health check.
func Start(ctx context.Context, o StartOptions) (*Server, error) {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 20 * time.Second
	}
	var lastErr error
	// A free port can be taken between our probe and the child's bind.
	for range 3 {
		s, err := start(ctx, o)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(ctx context.Context, o StartOptions) (*Server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Executable)
	cmd.Args = append(append([]string{}, o.Args...), "--addr", addr)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.SysProcAttr = childAttr()
	if o.LogFile != "" {
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
	s := &Server{Endpoint: "http://" + addr, cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	if err := s.waitReady(ctx, o.ReadyTimeout); err != nil {
		s.Stop()
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
			return fmt.Errorf("local endpoint exited before it was ready (%v); see local-s3.log in S3FLOW_HOME", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("local endpoint did not answer %s within %s", s.Endpoint, timeout)
		}
	}
}

// Stop ends the child: SIGTERM, then SIGKILL after 5 seconds.
func (s *Server) Stop() error {
	if s == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
