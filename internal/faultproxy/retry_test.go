package faultproxy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/s3flow/s3flow/internal/faultproxy"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
	"github.com/s3flow/s3flow/internal/s3client"
)

// TestMaxAttempts breaks every ListObjectsV2: a request is tried as often
// as the connection's max attempts say, else AWS_MAX_ATTEMPTS, else the
// SDK's 3; the error that outlasts them is explained.
func TestMaxAttempts(t *testing.T) {
	tg, bucket := setup(t)
	cases := []struct {
		conn int
		env  string
		want int
	}{
		{0, "", 3},
		{1, "", 1},
		{4, "", 4},
		{0, "2", 2},
		{1, "5", 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("connection %d, AWS_MAX_ATTEMPTS %q", c.conn, c.env), func(t *testing.T) {
			t.Setenv("AWS_MAX_ATTEMPTS", c.env)
			th := proxied(t, tg)
			th.conn.MaxAttempts = c.conn
			list := faultproxy.Match{Op: "ListObjectsV2"}
			th.proxy.Add(faultproxy.Rule{Match: list, Count: -1, Fault: faultproxy.InternalError()})
			_, err := th.run(context.Background(), t, s3mod.ListFiles, map[string]any{"bucket": bucket})
			var e *s3client.Error
			if !errors.As(err, &e) || e.Code != "InternalError" || e.Status != 500 {
				t.Fatalf("err = %v, want the injected InternalError", err)
			}
			if n := th.proxy.Count(list); n != c.want {
				t.Errorf("%d attempts, want %d", n, c.want)
			}
		})
	}
}
