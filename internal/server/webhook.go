package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/flow"
)

// Webhook authentication headers.
const (
	headerToken     = "X-S3flow-Token"
	headerSignature = "X-S3flow-Signature" // sha256=<hex HMAC-SHA256 of the body>
)

var errUnauthorizedHook = &httpError{http.StatusUnauthorized, errors.New("webhook: missing or wrong " + headerToken + " or " + headerSignature)}

// webhook starts a run of a flow whose trigger is a webhook. The request
// must carry the flow's secret (header) or an HMAC of the body made with it;
// otherwise nothing starts. The JSON body is the run's trigger.body.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("flow")
	f, ok := s.flows.Get(name)
	hook, isHook := webhookTrigger(f)
	if !ok || !isHook {
		return notFoundf("no flow %q with a webhook trigger", name)
	}
	secret := os.Getenv(hook.secretEnv)
	if secret == "" {
		s.log.WarnContext(r.Context(), "webhook refused: its secret variable is empty", "flow", name, "variable", hook.secretEnv)
		return errUnauthorizedHook
	}
	// The limit is checked before the body is read into memory when the
	// client says its length, and while reading when it does not.
	limit := s.cfg.MaxWebhookBody
	if r.ContentLength > limit {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over the webhook limit of %d bytes (--max-webhook-body)", limit)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return badRequestf("read the body: %v", err)
	}
	if int64(len(body)) > limit {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over the webhook limit of %d bytes (--max-webhook-body)", limit)}
	}
	if !hookAuthorized(r, body, secret) {
		return errUnauthorizedHook
	}
	if enabled, err := s.flows.Enabled(r.Context(), name); err != nil {
		return err
	} else if !enabled {
		return &httpError{http.StatusConflict, fmt.Errorf("flow %q is disabled", name)}
	}
	trigger, err := hookTrigger(body)
	if err != nil {
		return err
	}
	return s.startRun(w, r, name, map[string]any{}, trigger)
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

func hookAuthorized(r *http.Request, body []byte, secret string) bool {
	if t := r.Header.Get(headerToken); t != "" {
		return subtle.ConstantTimeCompare([]byte(t), []byte(secret)) == 1
	}
	sig, ok := strings.CutPrefix(r.Header.Get(headerSignature), "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

type webhookConfig struct{ secretEnv string }

// webhookTrigger reads a flow's trigger: {webhook: {secret_env: NAME}}.
func webhookTrigger(f *flow.Flow) (webhookConfig, bool) {
	if f == nil {
		return webhookConfig{}, false
	}
	hook, ok := f.Trigger["webhook"].(map[string]any)
	if !ok {
		return webhookConfig{}, false
	}
	env, _ := hook["secret_env"].(string)
	return webhookConfig{secretEnv: env}, env != ""
}
