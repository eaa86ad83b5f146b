package connection

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/s3flow/s3flow/internal/store"
)

// ErrNotFound means no connection has that name.
var ErrNotFound = errors.New("no such connection")

// ErrExists means a connection of that name exists already.
var ErrExists = errors.New("a connection of that name exists already")

// Home returns $S3FLOW_HOME, or the user's config dir + /s3flow.
func Home() (string, error) {
	if h := os.Getenv("S3FLOW_HOME"); h != "" {
		return h, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory (set S3FLOW_HOME): %w", err)
	}
	return filepath.Join(dir, "s3flow"), nil
}

// Store keeps connections in the database, secrets encrypted.
type Store struct {
	db     *store.DB
	sealer *sealer
}

const keyCheckPlain = "s3flow encryption key check v1"

// OpenStore opens the store under home, creating it on first use. A store
// written with another key is refused with ErrWrongKey, and one whose key
// is gone with ErrMissingKey, before anything changes.
func OpenStore(ctx context.Context, home string) (*Store, error) {
	return OpenStoreAt(ctx, home, "")
}

// OpenStoreAt opens the store in database — a postgres:// URL, or "" for
// the SQLite file under home. The encryption key is looked for under home
// (or in S3FLOW_ENCRYPTION_KEY) either way: every process that shares a
// PostgreSQL database needs the same key.
func OpenStoreAt(ctx context.Context, home, database string) (*Store, error) {
	if err := PrivateHome(home); err != nil {
		return nil, err
	}
	if database == "" {
		database = filepath.Join(home, "s3flow.db")
	}
	db, err := store.OpenUnmigrated(ctx, database)
	if err != nil {
		return nil, err
	}
	st, err := openWithKey(ctx, db, home)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := store.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", db.Name, err)
	}
	if err := st.checkKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// openWithKey finds the key and checks it against the store, reading only.
func openWithKey(ctx context.Context, db *store.DB, home string) (*Store, error) {
	sealed, err := readKeyCheck(ctx, db)
	if err != nil {
		return nil, err
	}
	// A store that holds secrets never gets a new key: a lost
	// encryption.key would otherwise be replaced by one that opens nothing.
	key, err := loadKey(home, sealed == nil)
	if err != nil {
		return nil, err
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	if sealed != nil {
		if plain, err := s.open(sealed, "key_check"); err != nil || plain != keyCheckPlain {
			return nil, ErrWrongKey
		}
	}
	return &Store{db: db, sealer: s}, nil
}

// readKeyCheck returns the sealed key check, or nil in a new store (which
// may not have its tables yet).
func readKeyCheck(ctx context.Context, db *store.DB) ([]byte, error) {
	exists, err := db.TableExists(ctx, "meta")
	if err != nil {
		return nil, fmt.Errorf("read the connection store: %w", err)
	}
	if !exists {
		return nil, nil
	}
	var sealed []byte
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'key_check'`).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the connection store: %w", err)
	}
	return sealed, nil
}

// DB returns the database, for packages that keep their own tables in it.
func (s *Store) DB() *store.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) checkKey(ctx context.Context) error {
	var sealed []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'key_check'`).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('key_check', ?) ON CONFLICT (key) DO NOTHING`, s.sealer.seal(keyCheckPlain, "key_check"))
		if err != nil {
			return fmt.Errorf("initialise the connection store: %w", err)
		}
		return s.checkKey(ctx)
	}
	if err != nil {
		return fmt.Errorf("read the connection store: %w", err)
	}
	if plain, err := s.sealer.open(sealed, "key_check"); err != nil || plain != keyCheckPlain {
		return ErrWrongKey
	}
	return nil
}

// Create stores a new connection; "env", "local" and malformed names are
// refused, and so is a role whose source connection is missing or would
// make a loop.
func (s *Store) Create(ctx context.Context, c Connection) error {
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if err := s.ResolveSource(ctx, &c); err != nil {
		return fmt.Errorf("create connection %q: %w", c.Name, err)
	}
	return s.insert(ctx, c)
}

// ResolveSource fills in c.SourceConn: the connection whose credentials
// assume c's role, and its own source in turn. A missing source and a
// loop are refused.
func (s *Store) ResolveSource(ctx context.Context, c *Connection) error {
	src := c.Source.SourceConnection
	if src == "" {
		return nil
	}
	sc, err := s.resolveSource(ctx, src, []string{c.Name})
	if err != nil {
		return fmt.Errorf("source connection: %w", err)
	}
	c.SourceConn = sc
	return nil
}

// resolveSource reads the connection a role's credentials come from, and
// its own source in turn; seen are the connections on the way to it.
func (s *Store) resolveSource(ctx context.Context, name string, seen []string) (*Connection, error) {
	if slices.Contains(seen, name) {
		return nil, fmt.Errorf("connection %q is its own source (%s -> %s): a loop", name, strings.Join(seen, " -> "), name)
	}
	if len(seen) > MaxSourceDepth {
		return nil, fmt.Errorf("the chain of source connections %s is longer than %d", strings.Join(seen, " -> "), MaxSourceDepth)
	}
	c, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.Kind == KindLocal {
		return nil, fmt.Errorf("connection %q is the embedded endpoint's; its keys assume no role", name)
	}
	if src := c.Source.SourceConnection; src != "" {
		if c.SourceConn, err = s.resolveSource(ctx, src, append(seen, name)); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

func (s *Store) insert(ctx context.Context, c Connection) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC()
	}
	var sourceJSON string
	if c.Source != (Source{}) {
		b, err := json.Marshal(c.Source)
		if err != nil {
			return fmt.Errorf("create connection %q: %w", c.Name, err)
		}
		sourceJSON = string(b)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO connections
		(name, kind, access_key_id, secret_enc, session_token_enc, region, endpoint, path_style, checksum_mode, verify_status, created_at, verified_at,
		 max_attempts, part_size_mib, parallel_parts, source_json, external_id_enc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Name, string(c.Kind), c.AccessKeyID,
		s.sealSecret(c.SecretAccessKey, c.Name, "secret"), s.sealSecret(c.SessionToken, c.Name, "session_token"),
		c.Region, c.Endpoint, c.PathStyle, c.ChecksumMode, c.VerifyStatus,
		c.CreatedAt.Format(time.RFC3339Nano), nullTime(c.VerifiedAt), c.MaxAttempts, c.PartSizeMiB, c.ParallelParts,
		sourceJSON, s.sealSecret(c.ExternalID, c.Name, "external_id"))
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("create connection %q: %w", c.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create connection %q: %w", c.Name, err)
	}
	return nil
}

func (s *Store) exists(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM connections WHERE name = ?`, name).Scan(&n)
	return n > 0, err
}

func (s *Store) sealSecret(secret Secret, name, column string) []byte {
	if secret.IsZero() {
		return nil
	}
	return s.sealer.seal(secret.Reveal(), name+"/"+column)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Get returns the named connection, with the chain of connections its
// role's credentials come from (SourceConn). "env" always exists; "local"
// is created on first use with generated keys.
func (s *Store) Get(ctx context.Context, name string) (Connection, error) {
	c, err := s.get(ctx, name)
	if err != nil {
		return c, err
	}
	if err := s.ResolveSource(ctx, &c); err != nil {
		return Connection{}, fmt.Errorf("connection %q: %w", name, err)
	}
	return c, nil
}

func (s *Store) get(ctx context.Context, name string) (Connection, error) {
	if name == EnvName {
		return Connection{Name: EnvName, Kind: KindEnv, VerifyStatus: "uses the AWS SDK's default credential chain"}, nil
	}
	if name == LocalName {
		if err := s.ensureLocal(ctx); err != nil {
			return Connection{}, err
		}
	}
	row := s.db.QueryRowContext(ctx, `SELECT name, kind, access_key_id, secret_enc, session_token_enc, region, endpoint,
		path_style, checksum_mode, verify_status, created_at, verified_at, max_attempts, part_size_mib, parallel_parts,
		source_json, external_id_enc FROM connections WHERE name = ?`, name)
	c, err := s.scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Connection{}, fmt.Errorf("connection %q: %w (see 's3flow connection list')", name, ErrNotFound)
	}
	if err != nil {
		return Connection{}, fmt.Errorf("read connection %q: %w", name, err)
	}
	return c, nil
}

// Names lists every connection's name, "env" and "local" included, sorted;
// nothing is decrypted.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM connections`)
	if err != nil {
		return nil, fmt.Errorf("list connection names: %w", err)
	}
	defer rows.Close()
	names := []string{EnvName, LocalName}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list connection names: %w", err)
		}
		if name != EnvName && name != LocalName {
			names = append(names, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connection names: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// List returns every connection, "env" and "local" included, by name.
func (s *Store) List(ctx context.Context) ([]Connection, error) {
	if err := s.ensureLocal(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, kind, access_key_id, secret_enc, session_token_enc, region, endpoint,
		path_style, checksum_mode, verify_status, created_at, verified_at, max_attempts, part_size_mib, parallel_parts,
		source_json, external_id_enc FROM connections ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	env, _ := s.Get(ctx, EnvName)
	conns := []Connection{env}
	for rows.Next() {
		c, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		conns = append(conns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	slices.SortFunc(conns, func(a, b Connection) int { return strings.Compare(a.Name, b.Name) })
	return conns, nil
}

// Delete removes a connection; "env" and "local" cannot be deleted, nor
// a connection that is another's source.
func (s *Store) Delete(ctx context.Context, name string) error {
	if name == EnvName || name == LocalName {
		return fmt.Errorf("connection %q always exists and cannot be deleted", name)
	}
	users, err := s.sourceOf(ctx, name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fmt.Errorf("delete connection %q: it is the source of %s; delete %s first", name, strings.Join(users, ", "),
			map[bool]string{true: "that one", false: "those"}[len(users) == 1])
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM connections WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete connection %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete connection %q: %w", name, ErrNotFound)
	}
	return nil
}

// sourceOf names the connections whose role is assumed with name's
// credentials.
func (s *Store) sourceOf(ctx context.Context, name string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, source_json FROM connections WHERE source_json <> ''`)
	if err != nil {
		return nil, fmt.Errorf("find the connections that use %q: %w", name, err)
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var user, sourceJSON string
		if err := rows.Scan(&user, &sourceJSON); err != nil {
			return nil, err
		}
		var src Source
		if json.Unmarshal([]byte(sourceJSON), &src) == nil && src.SourceConnection == name {
			users = append(users, user)
		}
	}
	return users, rows.Err()
}

// SetVerified records the outcome of a verification.
func (s *Store) SetVerified(ctx context.Context, name, status string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE connections SET verify_status = ?, verified_at = ? WHERE name = ?`, status, nullTime(at), name)
	if err != nil {
		return fmt.Errorf("record verification of %q: %w", name, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scan(row scanner) (Connection, error) {
	var (
		c                   Connection
		kind, created       string
		secretEnc, tokenEnc []byte
		externalIDEnc       []byte
		verified            sql.NullString
		pathStyle           bool
		sourceJSON          string
	)
	if err := row.Scan(&c.Name, &kind, &c.AccessKeyID, &secretEnc, &tokenEnc, &c.Region, &c.Endpoint,
		&pathStyle, &c.ChecksumMode, &c.VerifyStatus, &created, &verified, &c.MaxAttempts, &c.PartSizeMiB, &c.ParallelParts,
		&sourceJSON, &externalIDEnc); err != nil {
		return Connection{}, err
	}
	if sourceJSON != "" {
		if err := json.Unmarshal([]byte(sourceJSON), &c.Source); err != nil {
			return Connection{}, fmt.Errorf("read the source of connection %q: %w", c.Name, err)
		}
	}
	c.Kind, c.PathStyle = Kind(kind), pathStyle
	c.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	if verified.Valid {
		c.VerifiedAt, _ = time.Parse(time.RFC3339Nano, verified.String)
	}
	for _, f := range []struct {
		sealed []byte
		column string
		into   *Secret
	}{{secretEnc, "secret", &c.SecretAccessKey}, {tokenEnc, "session_token", &c.SessionToken}, {externalIDEnc, "external_id", &c.ExternalID}} {
		if f.sealed == nil {
			continue
		}
		plain, err := s.sealer.open(f.sealed, c.Name+"/"+f.column)
		if err != nil {
			return Connection{}, err
		}
		*f.into = NewSecret(plain)
	}
	return c, nil
}

// ensureLocal creates the "local" connection with generated keys once. Its
// endpoint is filled in when the embedded server starts.
func (s *Store) ensureLocal(ctx context.Context) error {
	if ok, err := s.exists(ctx, LocalName); err != nil || ok {
		return err
	}
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	c := Connection{
		Name: LocalName, Kind: KindLocal, AccessKeyID: "S3FLOWLOCAL",
		SecretAccessKey: NewSecret(hex.EncodeToString(secret)),
		Region:          "us-east-1", PathStyle: true, ChecksumMode: ChecksumWhenRequired,
		VerifyStatus: "embedded endpoint with data under $S3FLOW_HOME/local-s3",
	}
	err := s.insert(ctx, c)
	if errors.Is(err, ErrExists) {
		return nil
	}
	return err
}
