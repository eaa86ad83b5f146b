package server

import (
	"github.com/s3flow/s3flow/internal/store"

	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Tokens are the API's bearer tokens. Only their SHA-256 is stored: a
// token is shown once, when it is created.
type Tokens struct{ db *store.DB }

// NewTokens returns the token store in db.
func NewTokens(db *store.DB) *Tokens { return &Tokens{db: db} }

// tokenPrefix makes tokens recognisable in logs and secret scanners.
const tokenPrefix = "s3f_"

// Create makes a token named name and returns it.
func (t *Tokens) Create(ctx context.Context, name string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := tokenPrefix + hex.EncodeToString(b)
	_, err := t.db.ExecContext(ctx, `INSERT INTO api_tokens (name, hash, created_at) VALUES (?, ?, ?)`,
		name, hashToken(token), time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		return "", fmt.Errorf("create token %q (does it exist already?): %w", name, err)
	}
	return token, nil
}

// TokenInfo describes a token; the token itself is never kept.
type TokenInfo struct {
	Name     string `json:"name"`
	Created  string `json:"createdAt"`
	LastUsed string `json:"lastUsed,omitempty"`
}

// List returns the tokens' names and dates.
func (t *Tokens) List(ctx context.Context) ([]TokenInfo, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT name, created_at, coalesce(last_used, '') FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var ti TokenInfo
		if err := rows.Scan(&ti.Name, &ti.Created, &ti.LastUsed); err != nil {
			return nil, err
		}
		out = append(out, ti)
	}
	return out, rows.Err()
}

// Delete removes a token.
func (t *Tokens) Delete(ctx context.Context, name string) error {
	res, err := t.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no token named %q", name)
	}
	return nil
}

var errBadToken = errors.New("a valid API token is required (Authorization: Bearer TOKEN; create one with 's3flow token create NAME')")

// Check returns the name of the token, or errBadToken.
func (t *Tokens) Check(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", errBadToken
	}
	var name string
	// The lookup is by hash: comparing hashes leaks nothing useful about
	// the token through timing.
	err := t.db.QueryRowContext(ctx, `SELECT name FROM api_tokens WHERE hash = ?`, hashToken(token)).Scan(&name)
	if err != nil {
		return "", errBadToken
	}
	t.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE name = ?`, time.Now().UTC().Format(time.RFC3339), name)
	return name, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
