package server

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/store"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

func TestScopeAllows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		have, need Scope
		want       bool
	}{
		{ScopeRead, ScopeRead, true},
		{ScopeRead, ScopeRun, false},
		{ScopeRead, ScopeAdmin, false},
		{ScopeRun, ScopeRead, true},
		{ScopeRun, ScopeRun, true},
		{ScopeRun, ScopeAdmin, false},
		{ScopeAdmin, ScopeRead, true},
		{ScopeAdmin, ScopeRun, true},
		{ScopeAdmin, ScopeAdmin, true},
		// A scope the server does not know (a row written by a newer
		// version, a typo) may do nothing, and nothing needs less than read.
		{"owner", ScopeRead, false},
		{"", ScopeRead, false},
		{ScopeAdmin, "", false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
	for _, name := range []string{"", "Admin", "write", "run "} {
		if _, err := ParseScope(name); err == nil {
			t.Errorf("ParseScope(%q) accepted it", name)
		}
	}
}

// tokenDBs opens an SQLite database and, with S3FLOW_TEST_POSTGRES, a
// PostgreSQL one, both migrated to migration 0006, with one token made
// before scopes existed ("old"), then migrated to the newest.
func tokenDBs(t *testing.T) map[string]*store.DB {
	t.Helper()
	targets := map[string]string{"sqlite": filepath.Join(t.TempDir(), "s3flow.db")}
	if !testing.Short() && os.Getenv(storetest.EnvPostgres) != "" {
		targets["postgres"] = storetest.Postgres(t)
	}
	dbs := map[string]*store.DB{}
	for name, target := range targets {
		ctx := t.Context()
		db, err := store.OpenUnmigrated(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join("..", "store", "migrations", db.Dialect.String(), "000[1-6]_*.sql"))
		sort.Strings(files)
		if len(files) != 6 {
			t.Fatalf("found %d migrations up to 0006, want 6", len(files))
		}
		for i, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, string(body)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, i+1, filepath.Base(f))
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO api_tokens (name, hash, created_at) VALUES (?, ?, ?)`,
			"old", hashToken(oldToken), "2024-01-02T03:04:05Z"); err != nil {
			t.Fatal(err)
		}
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		dbs[name] = db
	}
	return dbs
}

const oldToken = "s3f_made-before-scopes"

// TestTokens: a token made before scopes keeps its full rights; new tokens
// carry their scope; a token past its end is refused with a message that
// says so (by its secret and by its id, what tickets use) and is listed
// as expired; a deleted token is gone by its id too.
func TestTokens(t *testing.T) {
	for name, db := range tokenDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Unix(1_800_000_000, 0)
			tokens := NewTokens(db)
			tokens.now = func() time.Time { return now }

			old, err := tokens.Check(ctx, oldToken)
			if err != nil || old.Scope != ScopeAdmin || old.ID == "" || !old.Expires.IsZero() {
				t.Fatalf("token made before scopes: %+v, %v; want admin, an id, no end", old, err)
			}
			if byID, err := tokens.ByID(ctx, old.ID); err != nil || byID.Name != "old" {
				t.Errorf("ByID(%q) = %+v, %v", old.ID, byID, err)
			}

			secrets := map[Scope]string{}
			for _, scope := range Scopes {
				secret, err := tokens.Create(ctx, string(scope), scope, now.Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				secrets[scope] = secret
				tok, err := tokens.Check(ctx, secret)
				if err != nil || tok.Scope != scope || tok.Name != string(scope) || tok.ID == old.ID {
					t.Errorf("Check(%s token) = %+v, %v", scope, tok, err)
				}
			}
			if _, err := tokens.Create(ctx, "bad", "owner", time.Time{}); err == nil {
				t.Error("Create with scope owner worked")
			}
			for _, bad := range []string{"", "s3f_nope", secrets[ScopeRun] + "x"} {
				if _, err := tokens.Check(ctx, bad); !errors.Is(err, errBadToken) {
					t.Errorf("Check(%q) = %v, want errBadToken", bad, err)
				}
			}

			// One second before the end it works; at the end it does not.
			run, _ := tokens.Check(ctx, secrets[ScopeRun])
			now = now.Add(time.Hour - time.Second)
			if _, err := tokens.Check(ctx, secrets[ScopeRun]); err != nil {
				t.Errorf("a second before its end: %v", err)
			}
			now = now.Add(time.Second)
			if _, err := tokens.Check(ctx, secrets[ScopeRun]); !errors.Is(err, errExpiredToken) {
				t.Errorf("at its end: %v, want errExpiredToken", err)
			}
			if _, err := tokens.ByID(ctx, run.ID); !errors.Is(err, errExpiredToken) {
				t.Errorf("ByID at its end: %v, want errExpiredToken", err)
			}
			if _, err := tokens.Check(ctx, oldToken); err != nil {
				t.Errorf("a token without an end stopped working: %v", err)
			}
			list, err := tokens.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range list {
				if want := ti.Name != "old"; ti.Expired != want || (ti.Expires != "") != want {
					t.Errorf("listed %+v, want expired %v", ti, want)
				}
			}

			if err := tokens.Delete(ctx, "old"); err != nil {
				t.Fatal(err)
			}
			if _, err := tokens.ByID(ctx, old.ID); !errors.Is(err, errBadToken) {
				t.Errorf("ByID of a deleted token: %v, want errBadToken", err)
			}
			if err := tokens.Delete(ctx, "old"); err == nil {
				t.Error("deleting it twice worked")
			}
		})
	}
}

// TestTokenLastUsed: a token's use is written at most once a minute, so
// that a caller polling every second does not cost a write a call.
func TestTokenLastUsed(t *testing.T) {
	for name, db := range tokenDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			start := time.Unix(1_800_000_000, 0)
			now := start
			tokens := NewTokens(db)
			tokens.now = func() time.Time { return now }
			secret, err := tokens.Create(ctx, "poller", ScopeRead, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				after time.Duration
				want  time.Time
			}{
				{0, start},
				{59 * time.Second, start},
				{61 * time.Second, start.Add(61 * time.Second)},
				{90 * time.Second, start.Add(61 * time.Second)},
				{122 * time.Second, start.Add(122 * time.Second)},
			} {
				now = start.Add(c.after)
				if _, err := tokens.Check(ctx, secret); err != nil {
					t.Fatal(err)
				}
				list, err := tokens.List(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var got string
				for _, ti := range list {
					if ti.Name == "poller" {
						got = ti.LastUsed
					}
				}
				if want := c.want.UTC().Format(time.RFC3339); got != want {
					t.Errorf("used at +%v: lastUsed %q, want %q", c.after, got, want)
				}
			}
		})
	}
}

// TestUsedTickets: a nonce is used once, whatever the goroutines; nonces
// of expired tickets are forgotten, so the set does not grow for ever.
func TestUsedTickets(t *testing.T) {
	t.Parallel()
	var u usedTickets
	now := time.Unix(1_800_000_000, 0)
	const tries = 32
	won := make(chan bool, tries)
	start := make(chan struct{})
	for range tries {
		go func() {
			<-start
			won <- u.use("n1", now.Unix()+300, now)
		}()
	}
	close(start)
	n := 0
	for range tries {
		if <-won {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the nonce was used %d times, want 1", n)
	}
	if !u.use("n2", now.Unix()+300, now) {
		t.Error("another nonce was refused")
	}
	later := now.Add(301 * time.Second)
	u.use("n3", later.Unix()+300, later)
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, kept := u.seen["n1"]; kept || len(u.seen) != 1 {
		t.Errorf("after the tickets expired the set holds %v, want n3 only", u.seen)
	}
}
