package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/trigger"
)

// The local endpoint (the local connection) sends its S3 events to the
// server of its home: the server writes its address and a secret it made
// at start to Config.LocalEventsFile, and the endpoint POSTs AWS-shaped
// Records to /local/events with that secret. Each flow whose s3_event
// trigger uses the local connection takes them as it takes notifications
// at /events/{flow}: the same matching and the same memory of records
// seen, so an event sent again starts nothing twice.

// errUnauthorizedLocalEvents is the answer to a sender without the
// secret, and to every sender when this server takes no local events.
var errUnauthorizedLocalEvents = &httpError{http.StatusUnauthorized, errors.New("local events: missing or wrong Authorization: Bearer secret")}

// registerLocalEvents writes where the local endpoint sends its events,
// when this server takes them and listens where the endpoint may send
// (a loopback address, or every address); remove undoes it.
func (s *Server) registerLocalEvents(addr net.Addr) (remove func()) {
	if s.localSecret == "" {
		return func() {}
	}
	u, ok := locals3.ListenerURL(addr)
	if !ok {
		s.log.Info("the local endpoint's S3 events are not taken: the server does not listen on a loopback address", "addr", addr.String())
		return func() {}
	}
	remove, err := locals3.RegisterEvents(s.cfg.LocalEventsHome, locals3.EventsListener{URL: u, Secret: s.localSecret, Pid: os.Getpid()})
	if err != nil {
		s.log.Warn("the local endpoint's S3 events will not reach this server", "err", err)
		return func() {}
	}
	return remove
}

// localEvents takes the local endpoint's notifications: POST
// /local/events, Authorization: Bearer and this server's secret. Every
// flow with an s3_event trigger on the local connection receives the
// records; it answers the runs started.
func (s *Server) localEvents(w http.ResponseWriter, r *http.Request) error {
	secret, known := dummyHookSecret(), false
	if s.localSecret != "" {
		secret, known = s.localSecret, true
	}
	bearer, given := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !(tokenMatches(strings.TrimSpace(bearer), secret) && given && known) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="s3flow local events"`)
		return refuseUnread(w, errUnauthorizedLocalEvents)
	}
	body, err := s.readPushedBody(w, r)
	if err != nil {
		return err
	}
	receipt, err := s.receiveLocal(r.Context(), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, receipt)
}

// receiveLocal gives body's records to each flow whose s3_event trigger
// uses the local connection. A disabled flow takes none.
func (s *Server) receiveLocal(ctx context.Context, body []byte) (trigger.S3Receipt, error) {
	total := trigger.S3Receipt{Runs: []string{}}
	var n *trigger.S3Notification
	for _, f := range s.flows.List() {
		ev, ok := s3EventTrigger(f)
		if !ok || ev.Connection != connection.LocalName {
			continue
		}
		if n == nil {
			// The endpoint encodes keys as S3 does, whatever a flow's
			// key_encoding says (it is for the stores that do not).
			local := *ev
			local.KeysEncoded = true
			var err error
			if n, err = local.Parse(body); err != nil {
				return trigger.S3Receipt{}, badRequestf("local events: %v", err)
			}
		}
		receipt, err := ev.Receive(ctx, triggerHost{s}, f.Name, n.Records)
		if errors.Is(err, trigger.ErrFlowDisabled) {
			continue
		}
		if err != nil {
			return trigger.S3Receipt{}, err
		}
		total.Runs = append(total.Runs, receipt.Runs...)
		total.Duplicates += receipt.Duplicates
		total.Ignored += receipt.Ignored
	}
	return total, nil
}

// newLocalSecret is the secret of one server's life.
func newLocalSecret() string { return "s3l_" + rand.Text() }
