package s3client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"reflect"
	"strings"
	"sync"

	"github.com/s3flow/s3flow/internal/connection"
)

// shared holds clients for reuse across module runs: a flow that uploads a
// thousand files makes one client (one configuration load, one pool of
// keep-alive connections), not a thousand. byValue finds a client again
// from the connection's value itself: a map lookup, where sharedKey's
// reflection and digest cost 15 µs for every object a flow touches.
var shared = struct {
	mu      sync.Mutex
	clients map[string]*sharedClient
	byValue map[valueKey]*sharedClient
}{clients: map[string]*sharedClient{}, byValue: map[valueKey]*sharedClient{}}

// sharedClient is one cache entry. The first caller makes the client while
// holding mu, so the branches of a concurrent step that all start at once
// wait for one configuration load (which parses AWS_CA_BUNDLE, about 1 MB
// of allocation) instead of each making a client only one of them keeps.
type sharedClient struct {
	mu     sync.Mutex
	client *Client // nil until made; a failure leaves it nil for the next caller to try
}

// valueKey is a connection without a source connection (which it would
// only hold by pointer), its region and options. Every field takes part,
// including one added later: a field that could not would not compile.
type valueKey struct {
	conn   connection.Connection
	region string
	opts   Options
}

// maxShared bounds the cache; past it, it starts over (a server with that
// many distinct connections pays one configuration load each again).
const maxShared = 128

// Shared returns a client for conn in region, made once per distinct
// connection (its every field, the secrets by digest), region, options and
// logger, and reused after that. Clients are safe for concurrent use.
func Shared(ctx context.Context, conn connection.Connection, region string, opts Options) (*Client, error) {
	e := sharedEntry(conn, region, opts)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == nil {
		c, err := newClient(ctx, conn, region, opts)
		if err != nil {
			return nil, err
		}
		e.client = c
	}
	return e.client, nil
}

// newClient is New; tests count its calls.
var newClient = New

// sharedEntry finds or adds the cache entry for conn, region and opts.
func sharedEntry(conn connection.Connection, region string, opts Options) *sharedClient {
	vk, byValue := valueKey{conn, region, opts}, conn.SourceConn == nil
	if byValue {
		shared.mu.Lock()
		e, ok := shared.byValue[vk]
		shared.mu.Unlock()
		if ok {
			return e
		}
	}
	key := sharedKey(conn, region, opts)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	e, ok := shared.clients[key]
	if !ok {
		if len(shared.clients) >= maxShared {
			shared.clients = map[string]*sharedClient{}
			shared.byValue = map[valueKey]*sharedClient{}
		}
		e = &sharedClient{}
		shared.clients[key] = e
	}
	if byValue {
		if len(shared.byValue) >= maxShared {
			shared.byValue = map[valueKey]*sharedClient{}
		}
		shared.byValue[vk] = e
	}
	return e
}

// sharedKey tells clients apart by every field of the connection — found
// by reflection, so a field added later takes part too — with secrets by
// their digest, plus the region, the options and the logger.
func sharedKey(conn connection.Connection, region string, opts Options) string {
	var b strings.Builder
	secrets := sha256.New()
	writeConnKey(&b, secrets, conn)
	fmt.Fprintf(&b, "region=%q|attempts=%d|logger=%p|secrets=%s", region, opts.MaxAttempts, opts.Logger, hex.EncodeToString(secrets.Sum(nil)))
	return b.String()
}

// writeConnKey writes conn's fields to b and its secrets to secrets; a
// role's source connection takes part the same way, so a source made
// again with another secret makes another client.
func writeConnKey(b *strings.Builder, secrets hash.Hash, conn connection.Connection) {
	v := reflect.ValueOf(conn)
	for i := range v.NumField() {
		switch f := v.Field(i).Interface().(type) {
		case connection.Secret:
			secrets.Write([]byte(f.Reveal()))
			secrets.Write([]byte{0})
		case *connection.Connection:
			b.WriteString("source{")
			if f != nil {
				writeConnKey(b, secrets, *f)
			}
			b.WriteString("}|")
		default:
			fmt.Fprintf(b, "%s=%#v|", v.Type().Field(i).Name, f)
		}
	}
}
