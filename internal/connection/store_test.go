package connection

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

const (
	keyA       = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	keyABase64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=" // the same 32 bytes
	keyB       = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

// setup opens a store in a new home with the encryption key key ("" means
// the key file). Store tests set S3FLOW_ENCRYPTION_KEY, so none of them
// runs in parallel.
func setup(t *testing.T, key string) (*Store, string) {
	t.Helper()
	t.Setenv(KeyEnv, key)
	home := filepath.Join(t.TempDir(), "home")
	st := open(t, home)
	return st, home
}

func open(t *testing.T, home string) *Store {
	t.Helper()
	st, err := OpenStore(context.Background(), home)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStoreRoundTrip(t *testing.T) {
	st, _ := setup(t, keyA)
	ctx := context.Background()
	want := secretConnection()
	want.Endpoint, want.PathStyle, want.VerifyStatus = "http://127.0.0.1:9000", true, "verified"
	want.MaxAttempts, want.PartSizeMiB, want.ParallelParts = 5, 32, 12
	want.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	want.VerifiedAt = time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC)
	if err := st.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretAccessKey.Reveal() != testSecret || got.SessionToken.Reveal() != testToken {
		t.Error("the secret or the session token did not survive the round trip")
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.VerifiedAt.Equal(want.VerifiedAt) {
		t.Errorf("times: got %v, %v; want %v, %v", got.CreatedAt, got.VerifiedAt, want.CreatedAt, want.VerifiedAt)
	}
	got.CreatedAt, got.VerifiedAt, want.CreatedAt, want.VerifiedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("Get = %#v\nwant %#v", got, want)
	}

	// A connection without a token, never verified, gets a creation time.
	if err := st.Create(ctx, Connection{Name: "a-minio", Kind: KindKeys, AccessKeyID: "minioadmin", SecretAccessKey: NewSecret("minio-secret")}); err != nil {
		t.Fatal(err)
	}
	minio, err := st.Get(ctx, "a-minio")
	if err != nil {
		t.Fatal(err)
	}
	if !minio.SessionToken.IsZero() || !minio.VerifiedAt.IsZero() || time.Since(minio.CreatedAt) > time.Minute {
		t.Errorf("got token %v, verified %v, created %v", !minio.SessionToken.IsZero(), minio.VerifiedAt, minio.CreatedAt)
	}

	if err := st.Create(ctx, want); !errors.Is(err, ErrExists) {
		t.Errorf("creating prod twice: %v, want ErrExists", err)
	}

	conns, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(conns), []string{"a-minio", "env", "local", "prod"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v (sorted by name)", got, want)
	}

	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := st.SetVerified(ctx, "prod", "failed: nope", at); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, "prod"); got.VerifyStatus != "failed: nope" || !got.VerifiedAt.Equal(at) {
		t.Errorf("after SetVerified: %q at %v", got.VerifyStatus, got.VerifiedAt)
	}

	if err := st.Delete(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "prod"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, "prod"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice: %v, want ErrNotFound", err)
	}
}

func names(conns []Connection) []string {
	var out []string
	for _, c := range conns {
		out = append(out, c.Name)
	}
	return out
}

func TestBuiltinConnections(t *testing.T) {
	st, home := setup(t, keyA)
	ctx := context.Background()

	env, err := st.Get(ctx, EnvName)
	if err != nil || env.Kind != KindEnv {
		t.Fatalf("Get(env) = %+v, %v", env, err)
	}
	local, err := st.Get(ctx, LocalName)
	if err != nil {
		t.Fatal(err)
	}
	if local.Kind != KindLocal || local.AccessKeyID == "" || len(local.SecretAccessKey.Reveal()) < 32 || !local.PathStyle {
		t.Errorf("local = %#v, want generated keys and path style", local)
	}

	for _, name := range []string{EnvName, LocalName} {
		if err := st.Delete(ctx, name); err == nil {
			t.Errorf("Delete(%s) succeeded", name)
		}
		if err := st.Create(ctx, Connection{Name: name, Kind: KindKeys, AccessKeyID: "x", SecretAccessKey: NewSecret("y")}); err == nil {
			t.Errorf("Create(%s) succeeded", name)
		}
	}
	if err := st.Create(ctx, Connection{Name: "bad name", Kind: KindKeys}); err == nil {
		t.Error("Create accepted a name with a space")
	}

	// local keeps its generated keys across opens.
	st.Close()
	again, err := open(t, home).Get(ctx, LocalName)
	if err != nil {
		t.Fatal(err)
	}
	if again.SecretAccessKey.Reveal() != local.SecretAccessKey.Reveal() {
		t.Error("the local connection's secret changed when the store was opened again")
	}
}

// TestSecretsEncryptedAtRest reads every file of the store: neither the
// secret nor the session token may appear in them.
func TestSecretsEncryptedAtRest(t *testing.T) {
	st, home := setup(t, "")
	ctx := context.Background()
	if err := st.Create(ctx, secretConnection()); err != nil {
		t.Fatal(err)
	}
	local, err := st.Get(ctx, LocalName)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		entries, err := os.ReadDir(home)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(home, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{testSecret, testToken, local.SecretAccessKey.Reveal()} {
				if bytes.Contains(data, []byte(s)) {
					t.Errorf("%s: %s holds a secret in plain text", when, e.Name())
				}
			}
		}
	}
	check("while open") // the WAL may hold the rows
	st.Close()
	check("after close")
}

// TestCiphertextBoundToRow moves prod's sealed secret to another row: it
// must not open there.
func TestCiphertextBoundToRow(t *testing.T) {
	st, _ := setup(t, keyA)
	ctx := context.Background()
	other := secretConnection()
	other.Name = "other"
	other.SecretAccessKey = NewSecret("other-secret")
	for _, c := range []Connection{secretConnection(), other} {
		if err := st.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.DB().ExecContext(ctx, `UPDATE connections SET secret_enc = (SELECT secret_enc FROM connections WHERE name = 'prod') WHERE name = 'other'`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "other"); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Get with a swapped ciphertext: %v, want ErrWrongKey", err)
	}
}

// TestWrongKey opens a store with another key: refused with ErrWrongKey,
// and the database file is left byte for byte as it was.
func TestWrongKey(t *testing.T) {
	st, home := setup(t, keyA)
	if err := st.Create(context.Background(), secretConnection()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db := filepath.Join(home, "s3flow.db")
	before := fileSum(t, db)

	t.Setenv(KeyEnv, keyB)
	if _, err := OpenStore(context.Background(), home); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("OpenStore with another key: %v, want ErrWrongKey", err)
	}
	if after := fileSum(t, db); after != before {
		t.Errorf("OpenStore with the wrong key changed %s", db)
	}
	if _, err := os.Stat(filepath.Join(home, "encryption.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was written: %v", err)
	}

	// A key that is not 32 bytes is refused as such.
	t.Setenv(KeyEnv, "abcd")
	if _, err := OpenStore(context.Background(), home); err == nil || errors.Is(err, ErrWrongKey) {
		t.Errorf("a short key: %v, want a format error", err)
	}

	// The right key still opens it, written in hex or in base64.
	for _, key := range []string{keyA, keyABase64} {
		t.Setenv(KeyEnv, key)
		st := open(t, home)
		c, err := st.Get(context.Background(), "prod")
		if err != nil || c.SecretAccessKey.Reveal() != testSecret {
			t.Errorf("the right key %s: %v", key, err)
		}
		st.Close()
	}
}

// TestWrongKeyBeforeMigrations: a store that is behind on migrations and
// opened with the wrong key is refused before it is migrated.
func TestWrongKeyBeforeMigrations(t *testing.T) {
	st, home := setup(t, keyA)
	// Forget the latest migration, as if the store were made by an older
	// s3flow: migrating it again would fail, as its tables exist.
	if _, err := st.DB().Exec(`DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before := fileSum(t, filepath.Join(home, "s3flow.db"))
	t.Setenv(KeyEnv, keyB)
	if _, err := OpenStore(context.Background(), home); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("OpenStore: %v, want ErrWrongKey before any migration", err)
	}
	if fileSum(t, filepath.Join(home, "s3flow.db")) != before {
		t.Error("the database changed")
	}
}

// TestMissingKey: a store whose key file is gone is refused, and no new key
// (which could never open it) is written in its place.
func TestMissingKey(t *testing.T) {
	st, home := setup(t, "")
	if err := st.Create(context.Background(), secretConnection()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	keyFile := filepath.Join(home, "encryption.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, filepath.Join(home, "s3flow.db"))
	_, err := OpenStore(context.Background(), home)
	if !errors.Is(err, ErrMissingKey) {
		t.Fatalf("OpenStore without its key: %v, want ErrMissingKey", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new key file was written: %v", err)
	}
	if fileSum(t, filepath.Join(home, "s3flow.db")) != before {
		t.Error("the database changed")
	}
}

// TestKeyFile: without S3FLOW_ENCRYPTION_KEY the key is made once, private
// to the user, and reused.
func TestKeyFile(t *testing.T) {
	st, home := setup(t, "")
	if err := st.Create(context.Background(), secretConnection()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	keyFile := filepath.Join(home, "encryption.key")
	info, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("encryption.key has mode %v, want 0600", info.Mode().Perm())
	}
	if dir, _ := os.Stat(home); dir.Mode().Perm() != 0o700 {
		t.Errorf("the home folder has mode %v, want 0700", dir.Mode().Perm())
	}
	first, _ := os.ReadFile(keyFile)
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(first) {
		t.Errorf("encryption.key holds %q, want 64 hex digits", first)
	}

	c, err := open(t, home).Get(context.Background(), "prod")
	if err != nil || c.SecretAccessKey.Reveal() != testSecret {
		t.Fatalf("reopening with the key file: %v", err)
	}
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, first) {
		t.Error("encryption.key changed when the store was opened again")
	}
}

func TestLoadKeyFormats(t *testing.T) {
	home := t.TempDir()
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{keyA, true},
		{" " + keyA + "\n", true},
		{keyABase64, true},
		{keyA[:62], false},
		{keyA + "00", false},
		{"not a key", false},
	} {
		t.Setenv(KeyEnv, tt.value)
		key, err := LoadKey(home)
		if (err == nil) != tt.ok || (tt.ok && len(key) != 32) {
			t.Errorf("LoadKey with %q: %d bytes, %v; want ok=%v", tt.value, len(key), err, tt.ok)
		}
	}
}

func fileSum(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestPrivateFiles: the home folder is 0700, the database and the key
// file 0600; a key file others can read is refused with a message that
// says how to fix it, and nothing is opened.
func TestPrivateFiles(t *testing.T) {
	st, home := setup(t, "")
	if err := st.Create(context.Background(), Connection{Name: "c", Kind: KindKeys, AccessKeyID: "AKIA", SecretAccessKey: NewSecret("s")}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"": 0o700, "s3flow.db": 0o600, "encryption.key": 0o600} {
		st, err := os.Stat(filepath.Join(home, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", filepath.Join(home, name), got, want)
		}
	}
	st.Close()
	key := filepath.Join(home, "encryption.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenStore(context.Background(), home)
	if err == nil || !regexp.MustCompile(`readable by others \(mode 0644\): run chmod 600 .*encryption.key`).MatchString(err.Error()) {
		t.Errorf("OpenStore with a 0644 key: %v", err)
	}
}

// TestRoleSources: a role's source and its external id survive the round
// trip, the chain is read with it, a source in use cannot be deleted, and
// a loop (which the store refuses to create, made here behind its back)
// is an error when read, not an endless walk.
func TestRoleSources(t *testing.T) {
	st, _ := setup(t, keyA)
	ctx := context.Background()
	keys := secretConnection()
	keys.Name = "keys"
	if err := st.Create(ctx, keys); err != nil {
		t.Fatal(err)
	}
	role := Connection{Name: "role", Kind: KindRole, Region: "us-east-1", ChecksumMode: ChecksumWhenSupported, ExternalID: NewSecret("ext-secret"),
		Source: Source{RoleARN: "arn:aws:iam::123456789012:role/r", SourceConnection: "keys", DurationSeconds: 900, RoleSessionName: "rs"}}
	if err := st.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	chained := Connection{Name: "chained", Kind: KindRole, Region: "us-east-1", ChecksumMode: ChecksumWhenSupported,
		Source: Source{RoleARN: "arn:aws:iam::123456789012:role/c", SourceConnection: "role"}}
	if err := st.Create(ctx, chained); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "chained")
	if err != nil {
		t.Fatal(err)
	}
	if got.SourceConn == nil || got.SourceConn.Name != "role" || got.SourceConn.ExternalID.Reveal() != "ext-secret" ||
		got.SourceConn.Source != role.Source || got.SourceConn.SourceConn == nil || got.SourceConn.SourceConn.SecretAccessKey.Reveal() != testSecret {
		t.Fatalf("the chain was not read: %+v", got.SourceConn)
	}
	if err := st.Delete(ctx, "role"); err == nil || err.Error() != `delete connection "role": it is the source of chained; delete that one first` {
		t.Errorf("delete a source in use: %v", err)
	}
	if err := st.Create(ctx, Connection{Name: "orphan", Kind: KindRole, Source: Source{RoleARN: "arn:aws:iam::1:role/o", SourceConnection: "gone"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing source: %v", err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE connections SET kind = 'role', source_json = '{"role_arn":"arn:aws:iam::1:role/k","source_connection":"chained"}' WHERE name = 'keys'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "chained"); err == nil || !regexp.MustCompile(`connection "chained" is its own source \(chained -> role -> keys -> chained\): a loop`).MatchString(err.Error()) {
		t.Errorf("a loop: %v", err)
	}
}
