// Package store opens s3flow's database — an SQLite file by default, or a
// PostgreSQL database that many servers and workers share — and keeps its
// schema current with embedded, versioned migrations.
//
// Queries are written once, with SQLite's `?` placeholders; on PostgreSQL
// DB and Tx rewrite them to `$1, $2, ...` before they reach the driver.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Dialect is the kind of database.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is an open database. Its ExecContext, QueryContext, QueryRowContext,
// PrepareContext and BeginTx take queries with `?` placeholders on both
// dialects.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Pool is the pgx pool under DB on PostgreSQL, for River's driver;
	// nil on SQLite.
	Pool *pgxpool.Pool
	// Name says which database this is, without a password: for messages.
	Name string
}

// IsPostgres reports whether target is a PostgreSQL URL.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// Open opens (creating if needed) the database at target — a file path for
// SQLite, a postgres:// URL for PostgreSQL — and applies every migration
// it has not seen yet.
func Open(ctx context.Context, target string) (*DB, error) {
	db, err := OpenUnmigrated(ctx, target)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", db.Name, err)
	}
	return db, nil
}

// OpenUnmigrated opens the database without touching its schema, for
// callers that must check something first (the encryption key) and leave a
// database they refuse as it was. Call Migrate before using it.
func OpenUnmigrated(ctx context.Context, target string) (*DB, error) {
	if IsPostgres(target) {
		return openPostgres(ctx, target)
	}
	file := strings.TrimPrefix(target, "sqlite:")
	// The database holds connections (secrets encrypted) and run history:
	// only its owner may read it. SQLite gives its -wal and -shm files the
	// database file's mode.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	f.Close()
	if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(file, 0o600); err != nil {
			return nil, fmt.Errorf("make database %s private: %w", file, err)
		}
	}
	dsn := "file:" + file + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	return &DB{DB: db, Dialect: SQLite, Name: file}, nil
}

func openPostgres(ctx context.Context, target string) (*DB, error) {
	name := redact(target)
	cfg, err := pgxpool.ParseConfig(target)
	if err != nil {
		// pgx's parse errors may quote the URL, password and all.
		return nil, fmt.Errorf("--database: %s is not a valid PostgreSQL URL", name)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL database %s: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL database %s: %w", name, err)
	}
	return &DB{DB: stdlib.OpenDBFromPool(pool), Dialect: Postgres, Pool: pool, Name: name}, nil
}

// redact drops the password from a database URL.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Close closes the database (and its pool).
func (db *DB) Close() error {
	err := db.DB.Close()
	if db.Pool != nil {
		db.Pool.Close()
	}
	return err
}

// Rebind rewrites `?` placeholders for db's dialect. Question marks inside
// quoted strings, identifiers and comments are left alone.
func (db *DB) Rebind(query string) string { return rebind(db.Dialect, query) }

func rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote == '-':
			if c == '\n' {
				quote = 0
			}
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			quote = '-' // a comment, to the end of the line
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.DB.ExecContext(ctx, db.Rebind(query), args...)
}

func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.DB.QueryContext(ctx, db.Rebind(query), args...)
}

func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.DB.QueryRowContext(ctx, db.Rebind(query), args...)
}

func (db *DB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return db.DB.PrepareContext(ctx, db.Rebind(query))
}

// BeginTx starts a transaction whose queries are rebound like db's.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := db.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, dialect: db.Dialect}, nil
}

// Tx is a transaction of a DB. Its embedded *sql.Tx is what River's
// database/sql driver takes to insert a job in the same transaction.
type Tx struct {
	*sql.Tx
	dialect Dialect
}

func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, rebind(tx.dialect, query), args...)
}

func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, rebind(tx.dialect, query), args...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, rebind(tx.dialect, query), args...)
}

func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return tx.Tx.PrepareContext(ctx, rebind(tx.dialect, query))
}

// TableExists reports whether the table is in db's schema.
func (db *DB) TableExists(ctx context.Context, table string) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if db.Dialect == Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	var n int
	err := db.QueryRowContext(ctx, q, table).Scan(&n)
	return n > 0, err
}

// migrationLock is the PostgreSQL advisory lock that keeps servers and
// workers starting together from migrating at the same time.
const migrationLock = 0x53336c6f77 // "S3flow"

// Locked runs fn while holding the migration lock: on PostgreSQL an
// advisory lock, on SQLite nothing (one process migrates at a time there:
// the server holds a lock file, and SQLite serialises writers).
func (db *DB) Locked(ctx context.Context, fn func(context.Context) error) error {
	if db.Dialect != Postgres {
		return fn(ctx)
	}
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	return fn(ctx)
}

// Migrate applies every migration db has not seen yet, each in its own
// transaction. A database that has them all, as at every start after the
// first, is only read: one query, no lock and no write transaction (on
// SQLite each of those waits for the write lock, which a busy server
// holds often).
func Migrate(ctx context.Context, db *DB) error {
	ms, err := list(db.Dialect)
	if err != nil {
		return err
	}
	if current(ctx, db, ms) {
		return nil
	}
	return db.Locked(ctx, func(ctx context.Context) error { return migrate(ctx, db, ms) })
}

// current reports whether db has recorded every migration of ms. An
// error (a new database has no schema_migrations table) means no: migrate
// then finds out, under the lock, and reports what is wrong.
func current(ctx context.Context, db *DB, ms []migration) bool {
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return false
	}
	defer rows.Close()
	recorded := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return false
		}
		recorded[v] = true
	}
	if rows.Err() != nil {
		return false
	}
	for _, m := range ms {
		if !recorded[m.version] {
			return false
		}
	}
	return true
}

type migration struct {
	version int
	name    string
	file    string
}

func list(d Dialect) ([]migration, error) {
	dir := path.Join("migrations", d.String())
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %q must be named NNNN_name.sql", e.Name())
		}
		ms = append(ms, migration{version: v, name: e.Name(), file: path.Join(dir, e.Name())})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

func migrate(ctx context.Context, db *DB, ms []migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return err
	}
	for _, m := range ms {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(m.file)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
		return err
	}
	return tx.Commit()
}
