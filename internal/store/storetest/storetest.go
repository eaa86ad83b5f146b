// Package storetest gives tests a database of their own on the test
// PostgreSQL server that scripts/test.sh starts (S3FLOW_TEST_POSTGRES).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgres names the variable with the test server's superuser URL.
const EnvPostgres = "S3FLOW_TEST_POSTGRES"

// Postgres creates an empty database for the test and returns its URL; it
// is dropped when the test ends. Without S3FLOW_TEST_POSTGRES the test is
// skipped, or fails under CI=true, where the server must be there.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: scripts/test.sh starts the test PostgreSQL server", EnvPostgres)
		}
		t.Skipf("%s is not set (scripts/test.sh starts a PostgreSQL server)", EnvPostgres)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "s3flow_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
