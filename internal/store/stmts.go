package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statements a DB keeps prepared. s3flow's
// queries are a few dozen texts; the bound keeps queries built from
// varying parts (a list's filters) from growing the cache for ever.
const maxCachedStmts = 256

// stmtCache keeps SQLite statements prepared. SQLite's driver parses a
// query's text on every call that is not through a prepared statement:
// measured, parsing was a third of the server's CPU for a queued run of
// one step. database/sql keeps a *sql.Stmt prepared on each connection it
// has run on. PostgreSQL's driver (pgx) has a cache of its own.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns query prepared, or nil when it is not to be cached (or
// could not be prepared: the call without it reports the error).
func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	c := db.stmts
	s, full := c.lookup(query)
	if s != nil || full {
		return s
	}
	// Prepared outside the lock: preparing takes a connection, which a
	// caller holding another may be waiting for.
	s, err := db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if had := c.stmts[query]; had != nil {
		s.Close()
		return had
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = s
	return s
}

// lookup returns query's statement if it is prepared, and whether no
// other is to be (a nil cache keeps none).
func (c *stmtCache) lookup(query string) (s *sql.Stmt, full bool) {
	if c == nil {
		return nil, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query], len(c.stmts) >= maxCachedStmts
}

// close closes the cached statements.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		s.Close()
	}
	c.stmts = nil
}
