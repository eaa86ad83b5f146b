package locals3

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
)

// EventsPath is where a running s3flow server takes the local endpoint's
// S3 event notifications: POST, Authorization: Bearer and the secret of
// EventsFile, a body of AWS-shaped Records.
const EventsPath = "/local/events"

// EventsFile is where a running "s3flow server" of home says where it
// takes the local endpoint's events, and with which secret. Only the
// user can read it (0600 in a 0700 home), so only the user's own local
// endpoint can send events as the local connection.
func EventsFile(home string) string { return filepath.Join(home, "server.events") }

// EventsListener is what EventsFile holds.
type EventsListener struct {
	// URL is the server's base URL, http:// to a loopback address.
	URL string `json:"url"`
	// Secret is the bearer secret the server made when it started.
	Secret string `json:"secret"`
	// Pid is the server's process.
	Pid int `json:"pid"`
}

// LogValue keeps the secret out of logs.
func (l EventsListener) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", l.URL), slog.Int("pid", l.Pid))
}

// String keeps the secret out of messages.
func (l EventsListener) String() string { return fmt.Sprintf("%s (pid %d)", l.URL, l.Pid) }

// ListenerURL is the URL that reaches a server listening on addr from
// this machine, when it is one the local endpoint may send to: a
// loopback address, or every address (then 127.0.0.1). A server bound
// to another address only is not sent events.
func ListenerURL(addr net.Addr) (string, bool) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "", false
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsUnspecified():
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case !ip.IsLoopback():
		return "", false
	}
	return "http://" + netip.AddrPortFrom(ip, ap.Port()).String(), true
}

// RegisterEvents writes l to home's EventsFile (0600, replaced at once).
// remove deletes the file if it still holds l: a later server's stays.
func RegisterEvents(home string, l EventsListener) (remove func(), err error) {
	if !loopbackURL(l.URL) {
		return nil, fmt.Errorf("the local endpoint sends events to loopback addresses only, not %s", l.URL)
	}
	data, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	if err := writePrivate(EventsFile(home), data); err != nil {
		return nil, fmt.Errorf("write where the local endpoint sends its events: %w", err)
	}
	return func() { removeIfHolds(EventsFile(home), data) }, nil
}

// ErrNoEventsListener says no s3flow server of the home takes events now.
var ErrNoEventsListener = errors.New("no s3flow server takes the local endpoint's events")

// ReadEventsListener reads file (an EventsFile). It is ErrNoEventsListener
// when there is none, or its server is gone; a file others may read or
// write, or that names anything but a loopback address, is not used.
func ReadEventsListener(file string) (EventsListener, error) {
	fi, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return EventsListener{}, ErrNoEventsListener
	}
	if err != nil {
		return EventsListener{}, err
	}
	if fi.Mode().Perm()&0o077 != 0 || !fi.Mode().IsRegular() {
		return EventsListener{}, fmt.Errorf("%s is not private to its user (chmod 600), so it is not used", file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return EventsListener{}, err
	}
	var l EventsListener
	if err := json.Unmarshal(data, &l); err != nil || l.Secret == "" || l.Pid <= 0 || !loopbackURL(l.URL) {
		return EventsListener{}, fmt.Errorf("%s does not name a loopback http:// address, a secret and a process", file)
	}
	if !processAlive(l.Pid) {
		return EventsListener{}, ErrNoEventsListener
	}
	return l, nil
}

// loopbackURL reports whether u is http:// to a loopback address or
// localhost, with a port and nothing else.
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" || p.User != nil || (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Port() == "" {
		return false
	}
	if p.Hostname() == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(p.Hostname())
	return err == nil && ip.Unmap().IsLoopback()
}
