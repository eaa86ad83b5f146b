package server

import (
	"context"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/netguard"
)

// policyResolver stamps the server's endpoint policy on every connection
// it gives out, so runs, module calls, downloads and watches all dial by
// the server's rule, not by whatever the wrapped resolver (the CLI's,
// which allows private addresses) decided.
type policyResolver struct {
	inner        engine.Resolver
	allowPrivate bool
}

func (r policyResolver) Connection(ctx context.Context, name string) (connection.Connection, error) {
	conn, err := r.inner.Connection(ctx, name)
	conn.AllowPrivate = r.allowPrivate
	return conn, err
}

// policy is the server's endpoint policy, for checks before any request.
func (s *Server) policy() netguard.Policy {
	return netguard.Policy{AllowPrivate: s.cfg.AllowPrivateEndpoints}
}
