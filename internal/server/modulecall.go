package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/s3flow/s3flow/internal/module"
)

// callModule runs one module for an API request: the one way every
// endpoint that runs a module directly does it (POST /api/modules/{name},
// the file download and upload). It resolves the named connection when the
// module needs one, gives the module a spool folder of its own when it
// spools, runs it with the checked inputs in, passing each bundle to emit,
// and gives a failure the status of its answer (moduleStatus).
func (s *Server) callModule(ctx context.Context, m *module.Module, connName string, in module.Values, env module.Env,
	emit func(module.Bundle) error) error {
	env.Logger = s.log
	if m.NeedsConnection {
		if connName == "" {
			return badRequestf("connection is required")
		}
		conn, err := s.cfg.Resolver.Connection(ctx, connName)
		if err != nil {
			return err
		}
		env.Connection = &conn
	}
	if m.Spools() {
		spool, err := os.MkdirTemp("", "s3flow-api-")
		if err != nil {
			return fmt.Errorf("make a spool folder for %s: %w", m.Name, err)
		}
		defer os.RemoveAll(spool)
		env.SpoolDir = spool
	}
	if err := m.Exec(ctx, env, in, emit); err != nil {
		return &httpError{moduleStatus(err), err}
	}
	return nil
}

// moduleStatus is the status of the answer when a module run over the API
// fails: what the error already says (a refused input, a path the API may
// not touch, too many results), else what the S3 failure means
// (s3Status).
func moduleStatus(err error) int {
	var he *httpError
	var ie *module.InputError
	var re *module.ReachError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &re):
		return http.StatusForbidden
	case errors.As(err, &ie):
		return http.StatusBadRequest
	}
	return s3Status(err)
}

// maxAPIBundles bounds what one module call over the API may answer.
const maxAPIBundles = 10000

// answerBundles runs a module with callModule and answers
// {"bundles": [...]}, each bundle as an API client sees it (apiBundle)
// after each is given to see, when not nil, first.
func (s *Server) answerBundles(w http.ResponseWriter, r *http.Request, m *module.Module, connName string, in module.Values,
	env module.Env, see func(module.Bundle)) error {
	bundles := []map[string]any{}
	err := s.callModule(r.Context(), m, connName, in, env, func(b module.Bundle) error {
		if see != nil {
			see(b)
		}
		apiBundle(m, b)
		bundles = append(bundles, b)
		if len(bundles) > maxAPIBundles {
			return badRequestf("more than 10,000 results; use limit")
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"bundles": bundles})
}
