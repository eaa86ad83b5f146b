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
// keep-alive connections), not a thousand.
var shared = struct {
	mu      sync.Mutex
	clients map[string]*Client
}{clients: map[string]*Client{}}

// maxShared bounds the cache; past it, it starts over (a server with that
// many distinct connections pays one configuration load each again).
const maxShared = 128

// Shared returns a client for conn in region, made once per distinct
// connection (its every field, the secrets by digest), region, options and
// logger, and reused after that. Clients are safe for concurrent use.
func Shared(ctx context.Context, conn connection.Connection, region string, opts Options) (*Client, error) {
	key := sharedKey(conn, region, opts)
	shared.mu.Lock()
	c, ok := shared.clients[key]
	shared.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := New(ctx, conn, region, opts)
	if err != nil {
		return nil, err
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if prev, ok := shared.clients[key]; ok {
		return prev, nil
	}
	if len(shared.clients) >= maxShared {
		shared.clients = map[string]*Client{}
	}
	shared.clients[key] = c
	return c, nil
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
