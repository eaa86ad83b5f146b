package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/trigger"
)

// EventTokens are the URL tokens of flows' s3_event triggers: senders that
// can be given only a URL (versitygw, SNS) put the token in it, POST
// /events/{flow}/{token}. Only the token's SHA-256 is stored, so a token
// is shown once, when it is made; making it again (rotate) ends the old
// one. It owns the event_tokens table.
type EventTokens struct{ db *store.DB }

// NewEventTokens returns the event token store in db.
func NewEventTokens(db *store.DB) *EventTokens { return &EventTokens{db: db} }

// eventTokenPrefix makes the tokens recognisable to secret scanners.
const eventTokenPrefix = "s3e_"

// EventTokenExistsError is a token asked for a flow that has one, without
// rotate.
type EventTokenExistsError struct{ Flow string }

func (e *EventTokenExistsError) Error() string {
	return fmt.Sprintf("flow %q has an event URL token already, and it cannot be shown again; rotate it to make a new one (the old one stops working)", e.Flow)
}

// Make creates flow's token and returns it. When the flow has one, it
// refuses with *EventTokenExistsError, unless rotate: then the new token
// replaces the old at once.
func (t *EventTokens) Make(ctx context.Context, flowName string, rotate bool) (string, error) {
	b := make([]byte, 24)
	rand.Read(b)
	token := eventTokenPrefix + hex.EncodeToString(b)
	q := `INSERT INTO event_tokens (flow, hash, created_at) VALUES (?, ?, ?) ON CONFLICT (flow) DO NOTHING`
	if rotate {
		q = `INSERT INTO event_tokens (flow, hash, created_at) VALUES (?, ?, ?)
			ON CONFLICT (flow) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at`
	}
	res, err := t.db.ExecContext(ctx, q, flowName, hashToken(token), time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		return "", fmt.Errorf("make the event token of flow %q: %w", flowName, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("make the event token of flow %q: %w", flowName, err)
	} else if n == 0 {
		return "", &EventTokenExistsError{Flow: flowName}
	}
	return token, nil
}

// dummyEventHash stands for the token of a flow without one, so that
// refusing takes the same work.
var dummyEventHash = hashToken(rand.Text())

// matches reports whether token is flow's. The hashes are compared in
// constant time, so the answer's timing says nothing about how much of a
// guess was right.
func (t *EventTokens) matches(ctx context.Context, flowName, token string) (bool, error) {
	stored, found := dummyEventHash, true
	err := t.db.QueryRowContext(ctx, `SELECT hash FROM event_tokens WHERE flow = ?`, flowName).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		stored, found = dummyEventHash, false
	} else if err != nil {
		return false, fmt.Errorf("look up the event token: %w", err)
	}
	given := hashToken(token)
	return subtle.ConstantTimeCompare([]byte(given), []byte(stored)) == 1 && found, nil
}

var (
	// errNoEventURL is the one answer to an unknown flow, a flow without
	// an s3_event trigger and a wrong URL token, so that neither flow
	// names nor tokens can be probed.
	errNoEventURL = &httpError{http.StatusNotFound, errors.New("s3_event: no such event URL")}
	// errUnauthorizedEvent is the same for the bearer secret.
	errUnauthorizedEvent = &httpError{http.StatusUnauthorized, errors.New("s3_event: missing or wrong Authorization: Bearer secret (or use the flow's URL token: POST /events/FLOW/TOKEN)")}
)

// redactEventToken hides the URL token from what sees the request's path
// (serve logs the path of a request that failed): the handler still reads
// it with PathValue.
func redactEventToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Path, u.RawPath = "/events/"+r.PathValue("flow")+"/***", ""
		r2 := *r
		r2.URL = &u
		h.ServeHTTP(w, &r2)
	})
}

// s3Events takes the S3 event notifications of a flow's s3_event trigger:
// POST /events/{flow} with Authorization: Bearer and the secret of the
// trigger's secret_env, or POST /events/{flow}/{token} with the flow's URL
// token. Each record that matches the trigger and was not received before
// starts one run (see trigger.S3Event.Receive). The sender is
// authenticated before a byte of the body is read.
func (s *Server) s3Events(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("flow")
	f, _ := s.flows.Get(name)
	ev, hasTrigger := s3EventTrigger(f)
	if token := r.PathValue("token"); token != "" {
		ok, err := s.eventTokens.matches(r.Context(), name, token)
		if err != nil {
			return err
		}
		if !ok || !hasTrigger {
			return refuseUnread(w, errNoEventURL)
		}
	} else {
		secret, known := dummyHookSecret(), false
		if hasTrigger && ev.SecretEnv != "" {
			if v := os.Getenv(ev.SecretEnv); v != "" {
				secret, known = v, true
			}
		}
		bearer, given := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !(tokenMatches(strings.TrimSpace(bearer), secret) && given && known) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="s3flow events"`)
			return refuseUnread(w, errUnauthorizedEvent)
		}
	}
	body, err := s.readPushedBody(w, r)
	if err != nil {
		return err
	}
	n, err := ev.Parse(body)
	if err != nil {
		return badRequestf("s3_event: %v", err)
	}
	switch {
	case n.Test:
		return writeJSON(w, http.StatusOK, map[string]any{"test": true, "runs": []string{}})
	case n.SNSType != "":
		return writeJSON(w, http.StatusOK, s.snsSubscription(r.Context(), name, n))
	}
	receipt, err := ev.Receive(r.Context(), triggerHost{s}, name, n.Records)
	if errors.Is(err, trigger.ErrFlowDisabled) {
		return errFlowDisabled(name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, receipt)
}

// snsHost is the host of an SNS endpoint (aws, aws-cn).
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]{1,32}\.amazonaws\.com(\.cn)?$`)

// snsSubscription answers SNS's messages about a subscription. s3flow
// never fetches a URL it is sent: the body is the sender's, and the URL
// could point anywhere (the server's own network included). A
// SubscribeURL on an SNS endpoint, over https, is logged for the
// administrator to open (or to confirm with 'aws sns
// confirm-subscription'); any other is refused, and not logged, so that
// the log shows no attacker's link.
func (s *Server) snsSubscription(ctx context.Context, flowName string, n *trigger.S3Notification) map[string]any {
	if n.SNSType != "SubscriptionConfirmation" {
		s.log.InfoContext(ctx, "s3_event: SNS says the subscription ended", "flow", flowName, "message", n.SNSType)
		return map[string]any{"sns": n.SNSType, "runs": []string{}}
	}
	u, err := url.Parse(n.SubscribeURL)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || !snsHost.MatchString(u.Host) || len(n.SubscribeURL) > 2048 {
		s.log.WarnContext(ctx, "s3_event: refused an SNS subscription confirmation whose SubscribeURL is not an https SNS address", "flow", flowName)
		return map[string]any{"sns": n.SNSType, "confirmed": false, "runs": []string{}}
	}
	s.log.WarnContext(ctx, "s3_event: an SNS subscription waits for confirmation; open its SubscribeURL to confirm it (s3flow does not fetch URLs it is sent)",
		"flow", flowName, "subscribeURL", u.String())
	return map[string]any{"sns": n.SNSType, "confirmed": false, "note": "the SubscribeURL was logged for the administrator", "runs": []string{}}
}

// makeEventToken makes (with {"rotate": true}, replaces) the URL token of
// a flow's s3_event trigger and answers it, once:
// {"flow", "token", "path": "/events/FLOW/TOKEN"}.
func (s *Server) makeEventToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Rotate bool `json:"rotate"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	f, ok := s.flows.Get(name)
	if !ok {
		return notFoundf("no flow named %q", name)
	}
	if _, ok := s3EventTrigger(f); !ok {
		if t, ok := f.Trigger("s3_event"); ok {
			if _, queue := t.Config.(*trigger.S3EventQueue); queue {
				return badRequestf("flow %q reads its S3 events from an SQS queue (queue_url): it has no events URL", name)
			}
		}
		return badRequestf("flow %q has no s3_event trigger", name)
	}
	token, err := s.eventTokens.Make(r.Context(), name, req.Rotate)
	if e, ok := errors.AsType[*EventTokenExistsError](err); ok {
		return &httpError{http.StatusConflict, fmt.Errorf("%w: {\"rotate\": true}", e)}
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"flow": name, "token": token, "path": EventPath(name, token)})
}

// EventPath is the path a sender posts a flow's notifications to with its
// URL token.
func EventPath(flowName, token string) string {
	return "/events/" + url.PathEscape(flowName) + "/" + token
}

// s3EventTrigger is a flow's s3_event trigger, if it has one that takes
// notifications at /events/{flow}: one with queue_url reads them from
// its queue, and its events URL answers as a flow without the trigger's.
func s3EventTrigger(f *flow.Flow) (*trigger.S3Event, bool) {
	if f == nil {
		return nil, false
	}
	t, ok := f.Trigger("s3_event")
	if !ok {
		return nil, false
	}
	ev, ok := t.Config.(*trigger.S3Event)
	return ev, ok
}
