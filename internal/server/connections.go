package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/netguard"
	"github.com/s3flow/s3flow/internal/s3client"
)

// verifyTimeout bounds the verification call, as the CLI's
// --verify-timeout does by default.
const verifyTimeout = 20 * time.Second

// connectionRequest is the body of POST /api/connections. The secrets are
// write-only: no answer and no log line carries them.
type connectionRequest struct {
	Name            string `json:"name"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Region          string `json:"region"`
	Endpoint        string `json:"endpoint"`
	PathStyle       bool   `json:"path_style"`
	Checksum        string `json:"checksum"`
	NoVerify        bool   `json:"no_verify"`
}

// connection checks the request by the rules of 's3flow connection create'
// (the same functions) and fills in the same defaults. An endpoint that is
// an address the server's policy refuses (or "localhost") is refused here,
// before any request; names are checked on every dial.
func (req connectionRequest) connection(policy netguard.Policy) (connection.Connection, error) {
	if req.Name == "" {
		return connection.Connection{}, &module.InputError{Field: "name", Rule: "is required"}
	}
	if err := connection.ValidateName(req.Name); err != nil {
		return connection.Connection{}, &module.InputError{Field: "name", Rule: err.Error()}
	}
	if req.AccessKeyID == "" {
		return connection.Connection{}, &module.InputError{Field: "access_key_id", Rule: "is required"}
	}
	secret, token := strings.TrimSpace(req.SecretAccessKey), strings.TrimSpace(req.SessionToken)
	if secret == "" {
		return connection.Connection{}, &module.InputError{Field: "secret_access_key", Rule: "is required"}
	}
	var endpoint string
	if req.Endpoint != "" {
		ep, err := connection.CheckEndpoint(req.Endpoint)
		var ee *connection.EndpointError
		if errors.As(err, &ee) {
			return connection.Connection{}, &module.InputError{Field: "endpoint", Rule: ee.Rule()}
		} else if err != nil {
			return connection.Connection{}, err
		}
		u, err := url.Parse(ep)
		if err != nil {
			return connection.Connection{}, err
		}
		if err := policy.CheckHost(u.Hostname()); err != nil {
			return connection.Connection{}, &module.InputError{Field: "endpoint", Rule: err.Error()}
		}
		endpoint = ep
	}
	checksum := req.Checksum
	if checksum == "" {
		checksum = connection.DefaultChecksumMode(endpoint)
	}
	if checksum != connection.ChecksumWhenRequired && checksum != connection.ChecksumWhenSupported {
		return connection.Connection{}, &module.InputError{Field: "checksum",
			Rule: fmt.Sprintf("must be %s or %s, got %q", connection.ChecksumWhenRequired, connection.ChecksumWhenSupported, req.Checksum)}
	}
	region := req.Region
	if region == "" {
		region = s3client.DefaultRegion
	}
	var re *connection.RegionError
	if err := connection.CheckRegion(region); errors.As(err, &re) {
		return connection.Connection{}, &module.InputError{Field: "region", Rule: re.Rule()}
	}
	return connection.Connection{
		Name: req.Name, Kind: connection.KindKeys, AccessKeyID: req.AccessKeyID,
		SecretAccessKey: connection.NewSecret(secret), SessionToken: connection.NewSecret(token),
		Region: region, Endpoint: endpoint, PathStyle: req.PathStyle, ChecksumMode: checksum,
		VerifyStatus: "not verified (no_verify)",
	}, nil
}

// connectionDetail is one connection as the API shows it: the listing's
// masked form and what 's3flow connection show' adds. Never a secret.
type connectionDetail struct {
	connectionInfo
	Checksum     string     `json:"checksum,omitempty"`
	SessionToken bool       `json:"sessionToken"`
	CreatedAt    *time.Time `json:"createdAt,omitempty"`
	VerifiedAt   *time.Time `json:"verifiedAt,omitempty"`
	// Warning says what verification found short of a failure (keys that
	// may not list buckets).
	Warning string `json:"warning,omitempty"`
}

func describeConnection(c connection.Connection) connectionDetail {
	d := connectionDetail{
		connectionInfo: connectionInfo{Name: c.Name, Kind: string(c.Kind), Region: c.Region, Endpoint: c.Endpoint,
			PathStyle: c.PathStyle, Status: c.VerifyStatus},
		Checksum: c.ChecksumMode, SessionToken: !c.SessionToken.IsZero(),
	}
	if c.AccessKeyID != "" {
		d.AccessKeyID = c.MaskedKeyID()
	}
	if !c.CreatedAt.IsZero() {
		d.CreatedAt = &c.CreatedAt
	}
	if !c.VerifiedAt.IsZero() {
		d.VerifiedAt = &c.VerifiedAt
	}
	return d
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
	conn, err := req.connection(s.policy())
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.cfg.Connections.Get(ctx, conn.Name); err == nil {
		return errConnectionExists(conn.Name)
	} else if !errors.Is(err, connection.ErrNotFound) {
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
	d := describeConnection(conn)
	d.Warning = warning
	w.Header().Set("Location", "/api/connections/"+url.PathEscape(conn.Name))
	return writeJSON(w, http.StatusCreated, d)
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
	return writeJSON(w, http.StatusOK, describeConnection(c))
}
