package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/s3flow/s3flow/internal/store"
)

// Tokens are the API's bearer tokens. Only their SHA-256 is stored: a
// token is shown once, when it is created. Each has a scope and may have
// an end.
type Tokens struct {
	db *store.DB
	// now is the clock expiry is judged by; tests move it.
	now func() time.Time
	// wrote holds, by token ID, when this process last wrote the token's
	// use, so that the calls in between cost no statement at all.
	wrote sync.Map
}

// NewTokens returns the token store in db.
func NewTokens(db *store.DB) *Tokens { return &Tokens{db: db, now: time.Now} }

// tokenPrefix makes tokens recognisable in logs and secret scanners.
const tokenPrefix = "s3f_"

// Scope is what a token may do. Each scope includes the ones before it:
// read sees flows, runs, connections and modules; run also starts,
// cancels and retries runs, runs modules and moves files; admin also
// manages connections, flows' enabled state and flow files.
type Scope string

const (
	ScopeRead  Scope = "read"
	ScopeRun   Scope = "run"
	ScopeAdmin Scope = "admin"
)

// Scopes lists the scopes from least to most.
var Scopes = []Scope{ScopeRead, ScopeRun, ScopeAdmin}

// rank orders the scopes; anything unknown ranks below read and so may do
// nothing.
func (s Scope) rank() int {
	for i, x := range Scopes {
		if s == x {
			return i + 1
		}
	}
	return 0
}

// Allows reports whether a token with scope s may do what needs need.
func (s Scope) Allows(need Scope) bool { return need.rank() > 0 && s.rank() >= need.rank() }

// ParseScope reads a scope's name.
func ParseScope(name string) (Scope, error) {
	if s := Scope(name); s.rank() > 0 {
		return s, nil
	}
	return "", fmt.Errorf("want read, run or admin, got %q", name)
}

// Token is a token as the server knows it: never the token itself.
type Token struct {
	// ID names the token in download tickets; it is not its hash, so a
	// ticket in a URL gives nothing about the token away.
	ID    string
	Name  string
	Scope Scope
	// Expires is when the token stops working; zero means never.
	Expires time.Time
}

// Create makes a token named name with scope, working until expires (zero:
// for ever), and returns it.
func (t *Tokens) Create(ctx context.Context, name string, scope Scope, expires time.Time) (string, error) {
	if scope.rank() == 0 {
		return "", fmt.Errorf("token %q: scope: want read, run or admin, got %q", name, scope)
	}
	b := make([]byte, 24)
	rand.Read(b)
	id := make([]byte, 8)
	rand.Read(id)
	token := tokenPrefix + hex.EncodeToString(b)
	var exp sql.NullInt64
	if !expires.IsZero() {
		exp = sql.NullInt64{Int64: expires.Unix(), Valid: true}
	}
	_, err := t.db.ExecContext(ctx, `INSERT INTO api_tokens (id, name, hash, scope, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		hex.EncodeToString(id), name, hashToken(token), string(scope), exp, t.now().UTC().Format(time.RFC3339))
	if store.IsUniqueViolation(err) {
		return "", fmt.Errorf("create token: %w", &TokenExistsError{Name: name})
	}
	if err != nil {
		return "", fmt.Errorf("create token %q: %w", name, err)
	}
	return token, nil
}

// TokenExistsError is a token name already taken.
type TokenExistsError struct{ Name string }

func (e *TokenExistsError) Error() string {
	return fmt.Sprintf("a token named %q already exists; pick another name, or delete it first with 's3flow token delete %s'", e.Name, e.Name)
}

// TokenInfo describes a token; the token itself is never kept.
type TokenInfo struct {
	Name     string `json:"name"`
	Scope    Scope  `json:"scope"`
	Created  string `json:"createdAt"`
	Expires  string `json:"expiresAt,omitempty"`
	Expired  bool   `json:"expired"`
	LastUsed string `json:"lastUsed,omitempty"`
}

// List returns the tokens' names, scopes and dates.
func (t *Tokens) List(ctx context.Context) ([]TokenInfo, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT name, scope, created_at, expires_at, coalesce(last_used, '') FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []TokenInfo
	now := t.now().Unix()
	for rows.Next() {
		var ti TokenInfo
		var exp sql.NullInt64
		if err := rows.Scan(&ti.Name, &ti.Scope, &ti.Created, &exp, &ti.LastUsed); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		if exp.Valid {
			ti.Expires = time.Unix(exp.Int64, 0).UTC().Format(time.RFC3339)
			ti.Expired = exp.Int64 <= now
		}
		out = append(out, ti)
	}
	return out, rows.Err()
}

// Delete removes a token. Its download tickets stop working with it.
func (t *Tokens) Delete(ctx context.Context, name string) error {
	res, err := t.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete token %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no token named %q", name)
	}
	return nil
}

var (
	errBadToken     = errors.New("a valid API token is required (Authorization: Bearer TOKEN; create one with 's3flow token create NAME')")
	errExpiredToken = &httpError{http.StatusUnauthorized, errors.New("the API token has expired; create a new one with 's3flow token create NAME --expires DURATION'")}
)

// Check returns the token presented, or errBadToken when there is no
// such token and errExpiredToken when it has ended.
func (t *Tokens) Check(ctx context.Context, token string) (Token, error) {
	if token == "" {
		return Token{}, errBadToken
	}
	// The lookup is by hash: comparing hashes leaks nothing useful about
	// the token through timing.
	return t.find(ctx, "hash", hashToken(token))
}

// ByID returns the token with id while it works, as Check does: what a
// download ticket is redeemed against.
func (t *Tokens) ByID(ctx context.Context, id string) (Token, error) {
	if id == "" {
		return Token{}, errBadToken
	}
	return t.find(ctx, "id", id)
}

// find looks a token up by column (hash or id, never user text), refuses
// it when it has ended and records its use.
func (t *Tokens) find(ctx context.Context, column, value string) (Token, error) {
	var tok Token
	var scope string
	var exp sql.NullInt64
	err := t.db.QueryRowContext(ctx, `SELECT id, name, scope, expires_at FROM api_tokens WHERE `+column+` = ?`, value).
		Scan(&tok.ID, &tok.Name, &scope, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, errBadToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("look up the API token: %w", err)
	}
	tok.Scope = Scope(scope)
	now := t.now()
	if exp.Valid {
		tok.Expires = time.Unix(exp.Int64, 0)
		// Whole seconds on both sides: the end is stored as unix seconds.
		if now.Unix() >= exp.Int64 {
			return Token{}, errExpiredToken
		}
	}
	// The use is recorded to the minute: a token that calls every second
	// (the Studio, a poller) would otherwise cost a durable write a call.
	// Another process may have written it since: the statement's own
	// condition keeps the minute across processes.
	if last, ok := t.wrote.Load(tok.ID); ok && now.Sub(last.(time.Time)) < lastUsedEvery {
		return tok, nil
	}
	res, err := t.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ? AND coalesce(last_used, '') < ?`,
		now.UTC().Format(time.RFC3339), tok.ID, now.Add(-lastUsedEvery).UTC().Format(time.RFC3339))
	if err == nil {
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			t.wrote.Store(tok.ID, now)
		}
	}
	return tok, nil
}

// lastUsedEvery is how often a token's last use is written, at most.
const lastUsedEvery = time.Minute

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenKey is the request context's key for the Token that made the
// request.
type tokenKey struct{}

// tokenFrom returns the token that made the request, when one did.
func tokenFrom(ctx context.Context) (Token, bool) {
	tok, ok := ctx.Value(tokenKey{}).(Token)
	return tok, ok
}

// errScope is the answer to a token whose scope is too small.
func errScope(tok Token, need Scope) error {
	return &httpError{http.StatusForbidden, fmt.Errorf("this needs a token with the %s scope; token %q has %s (create one with 's3flow token create NAME --scope %s')",
		need, tok.Name, tok.Scope, need)}
}

// authorize checks the request's bearer token and that its scope covers
// need, and returns it.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, need Scope) (Token, error) {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok, err := s.tokens.Check(r.Context(), strings.TrimSpace(bearer))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="s3flow"`)
		return Token{}, err
	}
	if !tok.Scope.Allows(need) {
		return Token{}, errScope(tok, need)
	}
	return tok, nil
}
