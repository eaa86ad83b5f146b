package flowfile

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/s3flow/s3flow/internal/store"
)

// What a version records.
const (
	ActionSaved    = "saved"    // written through the API
	ActionRestored = "restored" // an earlier version written again
	ActionDeleted  = "deleted"  // the file removed (the text is what it held)
	// ActionFound is the file as it was on disk before a save, when that
	// was not the last version recorded: written by hand or by another
	// program. Keeping it lets the first save of a hand-written flow be
	// undone.
	ActionFound = "found"
)

// ErrNoVersion is a version the history does not have.
var ErrNoVersion = errors.New("no such version")

// Versions is the history of the flows' versions, in the database.
type Versions struct {
	db  *store.DB
	now func() time.Time
}

// NewVersions returns the history kept in db.
func NewVersions(db *store.DB) *Versions { return &Versions{db: db, now: time.Now} }

// Version is one entry of a flow's history.
type Version struct {
	Hash    string    `json:"hash"`
	Action  string    `json:"action"`
	SavedBy string    `json:"savedBy"`
	SavedAt time.Time `json:"savedAt"`
	Size    int       `json:"size"`
}

// Record adds a version of flow: text, saved by whom (a token's name)
// with action. onDisk is what the file held before (nil: no file); when
// it is not the last version recorded, nor text, it is recorded first as
// found, so that what a person wrote by hand is in the history too.
func (v *Versions) Record(ctx context.Context, flow string, onDisk, text []byte, by, action string) error {
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record a version of flow %q: %w", flow, err)
	}
	defer tx.Rollback()
	now := v.now().UTC()
	if onDisk != nil && storable(onDisk) {
		var last string
		err := tx.QueryRowContext(ctx, `SELECT hash FROM flow_versions WHERE flow = ? ORDER BY id DESC LIMIT 1`, flow).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("record a version of flow %q: %w", flow, err)
		}
		if h := Hash(onDisk); h != last && h != Hash(text) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO flow_versions (flow, hash, action, yaml, saved_by, saved_at) VALUES (?, ?, ?, ?, ?, ?)`,
				flow, h, ActionFound, string(onDisk), "", now.Format(time.RFC3339Nano)); err != nil {
				return fmt.Errorf("record a version of flow %q: %w", flow, err)
			}
		}
	}
	if !storable(text) {
		return fmt.Errorf("record a version of flow %q: the text is not UTF-8 without NUL bytes", flow)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO flow_versions (flow, hash, action, yaml, saved_by, saved_at) VALUES (?, ?, ?, ?, ?, ?)`,
		flow, Hash(text), action, string(text), by, now.Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("record a version of flow %q: %w", flow, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record a version of flow %q: %w", flow, err)
	}
	return nil
}

// storable says whether text can be kept as TEXT on both databases
// (PostgreSQL takes neither invalid UTF-8 nor NUL).
func storable(text []byte) bool { return utf8.Valid(text) && !bytes.ContainsRune(text, 0) }

// List returns flow's versions, newest first, at most limit.
func (v *Versions) List(ctx context.Context, flow string, limit int) ([]Version, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT hash, action, saved_by, saved_at, length(yaml) FROM flow_versions
		WHERE flow = ? ORDER BY id DESC LIMIT ?`, flow, limit)
	if err != nil {
		return nil, fmt.Errorf("list the versions of flow %q: %w", flow, err)
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		var ver Version
		var at string
		if err := rows.Scan(&ver.Hash, &ver.Action, &ver.SavedBy, &at, &ver.Size); err != nil {
			return nil, fmt.Errorf("list the versions of flow %q: %w", flow, err)
		}
		if ver.SavedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("list the versions of flow %q: saved_at %q: %w", flow, at, err)
		}
		out = append(out, ver)
	}
	return out, rows.Err()
}

// Text returns the text of flow's version hash (ErrNoVersion when the
// history does not have it).
func (v *Versions) Text(ctx context.Context, flow, hash string) ([]byte, error) {
	var text string
	err := v.db.QueryRowContext(ctx, `SELECT yaml FROM flow_versions WHERE flow = ? AND hash = ? ORDER BY id DESC LIMIT 1`, flow, hash).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("flow %q has no version %s: %w", flow, hash, ErrNoVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("read version %s of flow %q: %w", hash, flow, err)
	}
	return []byte(text), nil
}

// Diff is a unified diff of two texts by line, three lines of context,
// each side named by its label.
func Diff(fromLabel, toLabel string, from, to []byte) (string, error) {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(from), B: lines(to), FromFile: fromLabel, ToFile: toLabel, Context: 3,
	})
	if err != nil {
		return "", fmt.Errorf("diff %s and %s: %w", fromLabel, toLabel, err)
	}
	return d, nil
}

// lines splits text after each newline; a last line without one is
// marked as diff(1) marks it.
func lines(text []byte) []string {
	if len(text) == 0 {
		return nil
	}
	ls := strings.SplitAfter(string(text), "\n")
	if ls[len(ls)-1] == "" {
		return ls[:len(ls)-1]
	}
	ls[len(ls)-1] += "\n\\ No newline at end of file\n"
	return ls
}
