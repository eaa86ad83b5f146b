package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/trigger"
)

// Webhook authentication headers.
const (
	// headerToken carries the flow's secret itself, for senders that
	// cannot sign (no replay protection; see docs/server.md).
	headerToken = "X-S3flow-Token"
	// headerSignature is t=UNIX,v1=HEX (see SignWebhook).
	headerSignature = "X-S3flow-Signature"
	// headerDelivery names a signed delivery, once: a replay is refused.
	headerDelivery = "X-S3flow-Delivery"
)

const (
	// hookSkew is how far a signature's time may be from the server's.
	hookSkew = 5 * time.Minute
	// hookReplayWindow is how long a delivery id and a signature are
	// remembered; longer than the 2 x hookSkew a signature can be valid.
	hookReplayWindow = 10 * time.Minute
	// maxDeliveryID bounds X-S3flow-Delivery.
	maxDeliveryID = 200
)

// errUnauthorizedHook is the one answer to an unknown flow, a flow without
// a webhook trigger and a missing or wrong secret or signature, so that
// flow names cannot be probed.
var errUnauthorizedHook = &httpError{http.StatusUnauthorized, errors.New("webhook: missing or wrong " + headerToken + " or " + headerSignature)}

// dummyHookSecret stands in for the secret of a flow that has none, so
// that refusing it takes the same work as refusing a wrong secret.
var dummyHookSecret = sync.OnceValue(func() string { return rand.Text() })

// webhook starts a run of a flow whose trigger is a webhook. The request
// carries the flow's secret (X-S3flow-Token) or a signature made with it
// (X-S3flow-Signature, with X-S3flow-Delivery); otherwise nothing starts.
// The JSON body is the run's trigger.body.
//
// The order matters: the headers are checked before a byte of the body is
// read, a token before the body too, and a signature, which covers the
// body, right after it; a delivery is recorded (and a replay refused) only
// once it is known to be the sender's.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("flow")
	now := time.Now()
	auth, err := hookAuth(r.Header, now)
	if err != nil {
		return refuseUnread(w, err)
	}
	secret, known := s.hookSecret(r.Context(), name)
	if auth.token != "" && !(tokenMatches(auth.token, secret) && known) {
		return refuseUnread(w, errUnauthorizedHook)
	}
	body, err := s.readPushedBody(w, r)
	if err != nil {
		return err
	}
	if auth.token == "" && !(auth.verify(secret, name, body) && known) {
		return errUnauthorizedHook
	}
	trigger, err := hookTrigger(body)
	if err != nil {
		return err
	}
	keys := auth.replayKeys()
	if len(keys) > 0 {
		if err := s.deliveries.record(r.Context(), name, keys, now, now.Add(hookReplayWindow)); err != nil {
			return err
		}
	}
	id, err := s.enqueue(r.Context(), name, map[string]any{}, trigger, "", true)
	if err != nil {
		// Not taken: the sender may retry this delivery.
		s.deliveries.forget(context.WithoutCancel(r.Context()), name, keys)
		return err
	}
	return s.answerRun(w, r, id)
}

func errHookTooLarge(limit int64) error {
	return &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over the webhook limit of %d bytes (--max-webhook-body)", limit)}
}

// readPushedBody reads the body of a webhook or an event notification,
// at most --max-webhook-body of it: the limit is checked before the body
// is read when the client says its length, and while reading when it does
// not.
func (s *Server) readPushedBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.cfg.MaxWebhookBody
	if r.ContentLength > limit {
		return nil, refuseUnread(w, errHookTooLarge(limit))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errHookTooLarge(limit)
		}
		return nil, badRequestf("read the body: %v", err)
	}
	return body, nil
}

// refuseUnread answers err without reading the body, and closes the
// connection after the answer. Without the read deadline in the past,
// net/http would wait for up to 256 KiB more of the body after answering,
// so that the connection could serve another request.
func refuseUnread(w http.ResponseWriter, err error) error {
	w.Header().Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now())
	return err
}

// hookSecret is the secret of flow's webhook trigger, or a stand-in and
// false when the flow is unknown, has no webhook trigger or its secret
// variable is empty.
func (s *Server) hookSecret(ctx context.Context, name string) (string, bool) {
	f, _ := s.flows.Get(name)
	hook, ok := webhookTrigger(f)
	if !ok {
		return dummyHookSecret(), false
	}
	secret := os.Getenv(hook.SecretEnv)
	if secret == "" {
		s.log.WarnContext(ctx, "webhook refused: its secret variable is empty", "flow", name, "variable", hook.SecretEnv)
		return dummyHookSecret(), false
	}
	return secret, true
}

// tokenMatches compares in constant time, lengths included (the digests
// have one length).
func tokenMatches(token, secret string) bool {
	a, b := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// hookCredentials is what a webhook request says about its sender: a
// token, or a signature with its time and delivery id.
type hookCredentials struct {
	token    string
	t        int64
	sigs     [][]byte
	matched  []byte
	delivery string
}

// hookAuth reads the authentication headers, before anything else of the
// request: a request without them, or with a signature that is malformed,
// too old or from too far in the future, is refused unread. The reasons
// say nothing about the flow.
func hookAuth(h http.Header, now time.Time) (*hookCredentials, error) {
	sig, token := h.Get(headerSignature), h.Get(headerToken)
	switch {
	case sig == "" && token == "":
		return nil, errUnauthorizedHook
	case sig == "":
		return &hookCredentials{token: token}, nil
	}
	c := &hookCredentials{delivery: h.Get(headerDelivery)}
	if err := c.parseSignature(sig); err != nil {
		return nil, &httpError{http.StatusUnauthorized, fmt.Errorf("webhook: %s: %w", headerSignature, err)}
	}
	if skew := now.Sub(time.Unix(c.t, 0)).Abs(); skew > hookSkew {
		return nil, &httpError{http.StatusUnauthorized, fmt.Errorf("webhook: %s: its time t is %s from the server's clock (at most %s)", headerSignature, skew.Round(time.Second), hookSkew)}
	}
	if !validDeliveryID(c.delivery) {
		return nil, &httpError{http.StatusUnauthorized, fmt.Errorf("webhook: a signed delivery needs %s: an id of 1 to %d visible ASCII characters, new for each delivery", headerDelivery, maxDeliveryID)}
	}
	return c, nil
}

// parseSignature reads t=UNIX,v1=HEX[,v1=HEX...]: several v1 let a sender
// sign with an old and a new secret while the secret changes.
func (c *hookCredentials) parseSignature(v string) error {
	const format = "want t=UNIX,v1=HEX"
	var haveT bool
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return errors.New(format)
		}
		switch k {
		case "t":
			t, err := strconv.ParseInt(val, 10, 64)
			if err != nil || haveT {
				return errors.New(format)
			}
			c.t, haveT = t, true
		case "v1":
			mac, err := hex.DecodeString(val)
			if err != nil || len(mac) != sha256.Size || len(c.sigs) == 4 {
				return errors.New(format + " (HEX: 64 hex digits, at most 4 of them)")
			}
			c.sigs = append(c.sigs, mac)
		}
		// Other schemes are ignored, for senders that add newer ones.
	}
	if !haveT || len(c.sigs) == 0 {
		return errors.New(format)
	}
	return nil
}

func validDeliveryID(id string) bool {
	if id == "" || len(id) > maxDeliveryID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// verify reports whether one of the signatures is the flow's for body,
// and remembers which.
func (c *hookCredentials) verify(secret, flowName string, body []byte) bool {
	want := hookMAC(secret, flowName, c.t, body)
	for _, got := range c.sigs {
		if hmac.Equal(got, want) {
			c.matched = got
			return true
		}
	}
	return false
}

// replayKeys name a signed delivery in the replay table: its id, and its
// signature, since the id is not signed and could be changed in a replay.
func (c *hookCredentials) replayKeys() []string {
	if c.matched == nil {
		return nil
	}
	return []string{"delivery:" + c.delivery, "signature:" + hex.EncodeToString(c.matched)}
}

// SignWebhook returns the X-S3flow-Signature header of a delivery of body
// to flow at t: "t=UNIX,v1=HEX", HEX being the HMAC-SHA256 of
// "UNIX.FLOW.BODY" with the flow's secret. The time and the flow name are
// signed, so a signature is good for one flow and a few minutes only.
func SignWebhook(secret, flow string, t time.Time, body []byte) string {
	return fmt.Sprintf("t=%d,v1=%x", t.Unix(), hookMAC(secret, flow, t.Unix(), body))
}

func hookMAC(secret, flow string, t int64, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s.", t, flow)
	mac.Write(body)
	return mac.Sum(nil)
}

// hookTrigger makes a webhook's trigger: its JSON body (an empty body is
// {}) as trigger.body. Whole numbers stay whole (int64), others are
// float64, and a number neither can hold (2e700) keeps its digits as text
// rather than failing the request.
func hookTrigger(body []byte) (map[string]any, error) {
	var payload any = map[string]any{}
	if len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&payload); err != nil {
			return nil, badRequestf("the body must be JSON: %v", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, badRequestf("the body must be one JSON value")
		}
		payload = numbers(payload)
	}
	return map[string]any{"type": "webhook", "body": payload, "receivedAt": time.Now().UTC().Format(time.RFC3339Nano)}, nil
}

// numbers turns the json.Numbers of a decoded value into int64, float64
// or, when neither holds it, the number's text.
func numbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = numbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = numbers(x)
		}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	}
	return v
}

// webhookTrigger is a flow's webhook trigger, if it has one.
func webhookTrigger(f *flow.Flow) (*trigger.Webhook, bool) {
	if f == nil {
		return nil, false
	}
	t, ok := f.Trigger("webhook")
	if !ok {
		return nil, false
	}
	hook, ok := t.Config.(*trigger.Webhook)
	return hook, ok
}
