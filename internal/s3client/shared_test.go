package s3client

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
)

// TestSharedKey: a change to any field of the connection (secrets
// included), the region or the options makes another client; the key
// never holds a secret.
func TestSharedKey(t *testing.T) {
	base := connection.Connection{Name: "c", Kind: connection.KindKeys, AccessKeyID: "AKIAEXAMPLE",
		SecretAccessKey: connection.NewSecret("s3cr3t-value"), SessionToken: connection.NewSecret("t0ken-value"),
		Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", PathStyle: true, ChecksumMode: "when-required",
		MaxAttempts: 3, VerifyStatus: "ok", CreatedAt: time.Unix(1, 0), VerifiedAt: time.Unix(2, 0),
		SourceConn: &connection.Connection{Name: "src", Kind: connection.KindKeys, AccessKeyID: "AKIASRC", SecretAccessKey: connection.NewSecret("source-secret")}}
	key := sharedKey(base, "", Options{})
	for _, s := range []string{"s3cr3t-value", "t0ken-value", "source-secret"} {
		if strings.Contains(key, s) {
			t.Errorf("the key shows a secret: %s", key)
		}
	}
	for name, change := range map[string]func(*connection.Connection){
		"name":          func(c *connection.Connection) { c.Name = "d" },
		"kind":          func(c *connection.Connection) { c.Kind = connection.KindEnv },
		"access key":    func(c *connection.Connection) { c.AccessKeyID = "AKIAOTHER" },
		"secret":        func(c *connection.Connection) { c.SecretAccessKey = connection.NewSecret("other") },
		"session token": func(c *connection.Connection) { c.SessionToken = connection.NewSecret("other") },
		"region":        func(c *connection.Connection) { c.Region = "us-east-1" },
		"endpoint":      func(c *connection.Connection) { c.Endpoint = "http://127.0.0.1:2" },
		"path style":    func(c *connection.Connection) { c.PathStyle = false },
		"checksum":      func(c *connection.Connection) { c.ChecksumMode = "when-supported" },
		"max attempts":  func(c *connection.Connection) { c.MaxAttempts = 5 },
		"verified at":   func(c *connection.Connection) { c.VerifiedAt = time.Unix(3, 0) },
		"external id":   func(c *connection.Connection) { c.ExternalID = connection.NewSecret("ext") },
		"role":          func(c *connection.Connection) { c.Source.RoleARN = "arn:aws:iam::1:role/r" },
		"source's secret": func(c *connection.Connection) {
			src := *c.SourceConn
			src.SecretAccessKey = connection.NewSecret("another-source-secret")
			c.SourceConn = &src
		},
	} {
		c := base
		change(&c)
		if sharedKey(c, "", Options{}) == key {
			t.Errorf("changing the %s keeps the same client", name)
		}
	}
	if sharedKey(base, "us-west-2", Options{}) == key || sharedKey(base, "", Options{MaxAttempts: 1}) == key {
		t.Error("the region or the options keep the same client")
	}
	if sharedKey(base, "", Options{}) != key {
		t.Error("the same connection makes another client")
	}
}

// TestSharedReuse: the same connection value finds the same client again,
// by value or (with a source connection) by key; a changed secret, region
// or logger finds another.
func TestSharedReuse(t *testing.T) {
	ctx := t.Context()
	conn := connection.Connection{Name: "reuse", Kind: connection.KindKeys, AccessKeyID: "AKIAREUSE",
		SecretAccessKey: connection.NewSecret("one"), Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", PathStyle: true}
	get := func(c connection.Connection, region string, opts Options) *Client {
		t.Helper()
		cl, err := Shared(ctx, c, region, opts)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	first := get(conn, "", Options{})
	if get(conn, "", Options{}) != first {
		t.Error("the same connection made another client")
	}
	other := conn
	other.SecretAccessKey = connection.NewSecret("two")
	if get(other, "", Options{}) == first {
		t.Error("another secret found the first client")
	}
	if get(conn, "us-west-2", Options{}) == first || get(conn, "", Options{Logger: slog.New(slog.DiscardHandler)}) == first {
		t.Error("another region or logger found the first client")
	}
	withSource := conn
	withSource.SourceConn = &connection.Connection{Name: "src", Kind: connection.KindKeys, AccessKeyID: "AKIASRC", SecretAccessKey: connection.NewSecret("s")}
	viaKey := get(withSource, "", Options{})
	copied := *withSource.SourceConn
	withSource.SourceConn = &copied
	if get(withSource, "", Options{}) != viaKey {
		t.Error("an equal source connection made another client")
	}
	copied.SecretAccessKey = connection.NewSecret("changed")
	if get(withSource, "", Options{}) == viaKey {
		t.Error("a changed source connection found the old client")
	}
}

// TestSharedOnceUnderConcurrency: the branches of a concurrent step asking
// at once for a client wait for one to be made, and all get it.
func TestSharedOnceUnderConcurrency(t *testing.T) {
	var made atomic.Int32
	newClient = func(ctx context.Context, conn connection.Connection, region string, opts Options) (*Client, error) {
		made.Add(1)
		return New(ctx, conn, region, opts)
	}
	t.Cleanup(func() { newClient = New })
	conn := connection.Connection{Name: "herd", Kind: connection.KindKeys, AccessKeyID: "AKIAHERD",
		SecretAccessKey: connection.NewSecret("herd"), Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", PathStyle: true}
	clients := make([]*Client, 16)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			c, err := Shared(t.Context(), conn, "", Options{})
			if err != nil {
				t.Error(err)
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if n := made.Load(); n != 1 {
		t.Errorf("%d clients were made for one connection", n)
	}
	for _, c := range clients {
		if c != clients[0] {
			t.Fatal("the branches got different clients")
		}
	}
}
