package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/smithy-go"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/netguard"
	"github.com/s3flow/s3flow/internal/s3client"
)

// verifyTimeout bounds the verification call, as the CLI's
// --verify-timeout does by default.
const verifyTimeout = 20 * time.Second

// connectionRequest is the body of POST /api/connections: every field of
// 's3flow connection create' (the same connection.Spec, by the same
// rules), and whether to verify. The secrets are write-only: no answer and
// no log line carries them.
type connectionRequest struct {
	connection.Spec
	NoVerify bool `json:"no_verify"`
}

// connection checks the request by connection.Spec's rules and fills in
// the same defaults as the CLI. What this server refuses on top is its own
// policy: an endpoint that is an address the policy refuses (or
// "localhost") is refused here, before any request; names are checked on
// every dial.
func (req connectionRequest) connection(policy netguard.Policy, allowMachine bool) (connection.Connection, error) {
	conn, err := req.Spec.Build()
	if err != nil {
		return connection.Connection{}, &httpError{http.StatusBadRequest, err}
	}
	if !allowMachine {
		if fields := conn.UsesMachine(); len(fields) > 0 {
			return connection.Connection{}, &module.InputError{Field: fields[0],
				Rule: "uses this server's own credentials or files; create such a connection with 's3flow connection create' on the server's machine, " +
					"or start the server with --allow-machine-credentials"}
		}
	}
	for _, ep := range []struct{ field, url string }{{connection.FieldEndpoint, conn.Endpoint}, {connection.FieldSTSEndpoint, conn.Source.STSEndpoint}} {
		if ep.url == "" {
			continue
		}
		u, err := url.Parse(ep.url)
		if err != nil {
			return connection.Connection{}, err
		}
		if err := policy.CheckHost(u.Hostname()); err != nil {
			return connection.Connection{}, &module.InputError{Field: ep.field, Rule: err.Error()}
		}
	}
	conn.VerifyStatus = "not verified (no_verify)"
	return conn, nil
}

// checkSource holds a role assumed with another connection's credentials
// to where that connection already sends them: its AssumeRole request,
// signed with them, goes to the role's STS endpoint, which must be the
// source's own (its STS endpoint, else its S3 endpoint, else AWS's). An
// API caller may use a connection, but not send its signature elsewhere.
func checkSource(conn connection.Connection) error {
	src := conn.SourceConn
	if src == nil {
		return nil
	}
	if want := src.STSEndpoint(); conn.STSEndpoint() != want {
		where := "AWS STS (no sts_endpoint and no endpoint)"
		if want != "" {
			where = want
		}
		return &module.InputError{Field: connection.FieldSTSEndpoint,
			Rule: fmt.Sprintf("must be where source connection %q sends its requests, %s: its credentials sign the role's request", src.Name, where)}
	}
	return nil
}

// connectionAnswer is a connection as the API shows it: its Summary, and
// after a create what verification found short of a failure.
type connectionAnswer struct {
	connection.Summary
	// Warning says what verification found short of a failure (keys that
	// may not list buckets).
	Warning string `json:"warning,omitempty"`
}

// createConnection saves a connection after proving its keys with a real
// signed call, as 's3flow connection create' does: an unknown key, a wrong
// secret or an unreachable endpoint is refused (422) and nothing is saved;
// keys that are valid but may not list buckets are saved with a warning.
func (s *Server) createConnection(w http.ResponseWriter, r *http.Request) error {
	var req connectionRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	conn, err := req.connection(s.policy(), s.cfg.AllowMachineCredentials)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.cfg.Connections.Get(ctx, conn.Name); err == nil {
		return errConnectionExists(conn.Name)
	} else if !errors.Is(err, connection.ErrNotFound) {
		return err
	}
	if err := s.cfg.Connections.ResolveSource(ctx, &conn); err != nil {
		return &module.InputError{Field: connection.FieldSourceConnection, Rule: err.Error()}
	}
	if err := checkSource(conn); err != nil {
		return err
	}
	var warning string
	if !req.NoVerify {
		v, err := s.verifyConnection(ctx, conn)
		if err != nil {
			// The reason in full for the operator; the caller gets
			// verifyFailed's words.
			s.log.WarnContext(ctx, "connection not verified", "connection", conn, "error", err)
			return verifyFailed(conn.Name, err)
		}
		conn.VerifyStatus, conn.VerifiedAt, warning = v.Status, time.Now().UTC(), v.Warning
	}
	conn.CreatedAt = time.Now().UTC()
	if err := s.cfg.Connections.Create(ctx, conn); err != nil {
		if errors.Is(err, connection.ErrExists) {
			return errConnectionExists(conn.Name)
		}
		return err
	}
	// conn logs itself with the key id masked and without its secrets.
	s.log.InfoContext(ctx, "connection created", "connection", conn, "status", conn.VerifyStatus)
	w.Header().Set("Location", "/api/connections/"+url.PathEscape(conn.Name))
	return writeJSON(w, http.StatusCreated, connectionAnswer{conn.Summary(), warning})
}

func errConnectionExists(name string) error {
	return &httpError{http.StatusConflict, fmt.Errorf("connection %q: %w; delete it first", name, connection.ErrExists)}
}

func (s *Server) verifyConnection(ctx context.Context, conn connection.Connection) (s3client.Verified, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	conn.AllowPrivate = s.cfg.AllowPrivateEndpoints
	c, err := s3client.New(ctx, conn, "", s3client.Options{Logger: s.log, MaxAttempts: 2})
	if err != nil {
		return s3client.Verified{}, err
	}
	v, err := c.Verify(ctx)
	if err != nil && ctx.Err() != nil {
		return v, fmt.Errorf("no answer within %s: %w", verifyTimeout, err)
	}
	return v, err
}

// verifyFailed says why a connection was not saved. Only answers that
// prove an S3 service checked the keys (an unknown key id, a wrong secret)
// are told apart. Everything else — a closed port, a timeout, an address
// the policy refuses, an answer that is not S3's — gets the same status
// and the same words, so the API cannot tell which ports of which hosts
// are open, or what a name resolves to. The server's log has the reason.
func verifyFailed(name string, err error) error {
	if errors.Is(err, s3client.ErrUnknownKey) || errors.Is(err, s3client.ErrWrongSecret) {
		return &httpError{http.StatusUnprocessableEntity, fmt.Errorf("connection %q not saved: %w", name, err)}
	}
	// An STS that refused a role (AccessDenied, a wrong external id, an
	// unknown source key) answered with its own error document: that
	// proves it is one, and says which step to fix.
	var credErr *s3client.CredentialsError
	var apiErr smithy.APIError
	if errors.As(err, &credErr) && credErr.Step != s3client.StepListing && errors.As(err, &apiErr) {
		return &httpError{http.StatusUnprocessableEntity, fmt.Errorf("connection %q not saved: %w", name, credErr)}
	}
	return &httpError{http.StatusUnprocessableEntity, fmt.Errorf("connection %q not saved: %w", name, errNotReached)}
}

// errNotReached is verifyFailed's one answer for every other failure.
var errNotReached = errors.New("could not reach the endpoint as an S3 service; check the URL and that the service runs " +
	"(this server refuses link-local addresses, and loopback and private ones unless started with --allow-private-endpoints)")

func (s *Server) showConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cfg.Connections.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c.Summary())
}

// listProviders answers the presets a connection's provider may name, as
// 's3flow connection providers' lists them: the Studio's form offers them.
func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	ps, err := connection.Providers()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ps)
}
