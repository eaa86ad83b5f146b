package locals3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Running is what "s3flow local serve" writes to RunningFile while it
// serves, so that every other s3flow process of the same home uses that one
// endpoint (and the links they presign work after they end) instead of
// starting a temporary one of its own.
type Running struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:9000.
	Endpoint string `json:"endpoint"`
	// Pid is the serving s3flow process.
	Pid int `json:"pid"`
}

// RunningFile is where a running "s3flow local serve" says where it is.
func RunningFile(home string) string { return filepath.Join(home, "local-s3.endpoint") }

// Advertise writes r to home's RunningFile (0600, replaced at once, so a
// reader never sees half of it). remove deletes the file if it still holds
// r: a later serve's file stays.
func Advertise(home string, r Running) (remove func(), err error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := writePrivate(RunningFile(home), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("write the local endpoint's address: %w", err)
	}
	data = append(data, '\n')
	return func() { removeIfHolds(RunningFile(home), data) }, nil
}

// writePrivate replaces file with data, 0600, at once: a reader never
// sees half of it.
func writePrivate(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes the file 0600 already; this says it.
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// removeIfHolds removes file if it still holds data. Another process may
// write the file between the read and the remove; that window is a few
// system calls wide, and its cost is one temporary endpoint.
func removeIfHolds(file string, data []byte) {
	if got, err := os.ReadFile(file); err == nil && bytes.Equal(got, data) {
		os.Remove(file)
	}
}

// Lookup returns the endpoint a running "s3flow local serve" of home
// advertises, if there is one. A file whose process is gone, whose address
// does not answer the health check, or that does not parse is left by a
// serve that was killed: Lookup removes it and reports none.
func Lookup(ctx context.Context, home string) (Running, bool) {
	file := RunningFile(home)
	data, err := os.ReadFile(file)
	if err != nil {
		return Running{}, false
	}
	var r Running
	if err := json.Unmarshal(data, &r); err != nil || r.Pid <= 0 || !machineAddress(r.Endpoint) ||
		!processAlive(r.Pid) || !healthy(ctx, r.Endpoint) {
		removeIfHolds(file, data)
		return Running{}, false
	}
	return r, true
}

// machineAddress reports whether endpoint is http:// to an IP address or
// localhost: the file is written by a serve of this machine, and only the
// user can write in S3FLOW_HOME (0700, owner checked), but a host name
// would let the resolver's answer decide where the local connection's
// requests go.
func machineAddress(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") || u.Port() == "" {
		return false
	}
	host := u.Hostname()
	_, err = netip.ParseAddr(host)
	return err == nil || host == "localhost"
}

// healthy reports whether an endpoint answers its health check at once.
// The file names a local address, so a second is plenty.
func healthy(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+HealthPath, nil)
	if err != nil {
		return false
	}
	// No redirects: the file may name only the endpoint itself.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// InUseError says the data folder is served by another s3flow-local: two
// on one folder would each cache and change it behind the other's back.
type InUseError struct {
	Root string
	// Pid is the other s3flow-local, 0 when unknown.
	Pid int
}

func (e *InUseError) Error() string {
	who := "another s3flow-local"
	if e.Pid > 0 {
		who = fmt.Sprintf("another s3flow-local (pid %d)", e.Pid)
	}
	return fmt.Sprintf("the local endpoint's data folder %s is in use by %s, started by another s3flow command; "+
		"wait for that command to end, or run \"s3flow local serve\" before the others so that they all use one endpoint", e.Root, who)
}

// ExitInUse is s3flow-local's exit status when its data folder is locked,
// so that the s3flow that started it can say so (its output goes to a log).
const ExitInUse = 3

// LockFile is the lock an s3flow-local holds on its data folder while it
// serves, beside the folder (a file inside would be listed as an object).
func LockFile(root string) string { return filepath.Clean(root) + ".lock" }

// lockHolder reads the pid the holder of root's lock wrote into it.
func lockHolder(root string) int {
	data, err := os.ReadFile(LockFile(root))
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(data), &pid)
	return pid
}

// LockData takes root's lock for this process, until release or its exit;
// the kernel drops a dead process's lock, so no stale lock remains. It
// fails with *InUseError when another process holds it.
func LockData(root string) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(root)), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(LockFile(root), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the local endpoint's data folder: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Root: root, Pid: lockHolder(root)}
		}
		return nil, fmt.Errorf("lock the local endpoint's data folder: %w", err)
	}
	// The pid is for messages only; the lock itself is the kernel's.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return func() { f.Close() }, nil
}

var errLocked = errors.New("locked")

// Free returns an *InUseError while an s3flow-local serves root, nil when
// none does (one may start the next moment).
func Free(root string) error {
	release, err := LockData(root)
	if err != nil {
		return err
	}
	release()
	return nil
}
