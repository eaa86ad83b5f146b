package s3

import (
	"context"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// run checks raw inputs against m's declaration and runs it against the
// target, returning the bundles it emitted.
func run(t testing.TB, tg s3test.Target, m *module.Module, raw map[string]any) ([]module.Bundle, error) {
	t.Helper()
	in, err := m.Check(raw)
	if err != nil {
		return nil, err
	}
	var got []module.Bundle
	err = m.Exec(context.Background(), module.Env{Files: module.AllLocalFiles(), Connection: &tg.Conn}, in, func(b module.Bundle) error {
		got = append(got, b)
		return nil
	})
	return got, err
}
