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
	clients map[string]*Client
	byValue map[valueKey]*Client
}{clients: map[string]*Client{}, byValue: map[valueKey]*Client{}}

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
	vk, byValue := valueKey{conn, region, opts}, conn.SourceConn == nil
	if byValue {
		shared.mu.Lock()
		c, ok := shared.byValue[vk]
		shared.mu.Unlock()
		if ok {
			return c, nil
		}
	}
	key := sharedKey(conn, region, opts)
	shared.mu.Lock()
	c, ok := shared.clients[key]
	shared.mu.Unlock()
	if !ok {
		var err error
		if c, err = New(ctx, conn, region, opts); err != nil {
			return nil, err
		}
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if prev, ok := shared.clients[key]; ok {
		c = prev
	} else {
		if len(shared.clients) >= maxShared {
			shared.clients = map[string]*Client{}
			shared.byValue = map[valueKey]*Client{}
		}
		shared.clients[key] = c
	}
	if byValue {
		if len(shared.byValue) >= maxShared {
			shared.byValue = map[valueKey]*Client{}
		}
		shared.byValue[vk] = c
	}
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
