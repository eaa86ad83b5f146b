package cli

import (
	"errors"
	"testing"
)

func TestReadSecrets(t *testing.T) {
	t.Setenv("TEST_SECRET", "from-env")
	t.Setenv("TEST_TOKEN", "token-from-env")
	t.Setenv("TEST_EMPTY", "")
	for _, tt := range []struct {
		name          string
		stdin         string
		o             createOptions
		secret, token string
		usage         bool // a usage error is wanted
	}{
		{"stdin", "s3cret\n", createOptions{secretStdin: true}, "s3cret", "", false},
		{"stdin without newline", "s3cret", createOptions{secretStdin: true}, "s3cret", "", false},
		{"stdin with CRLF and spaces", " s3cret \r\n", createOptions{secretStdin: true}, "s3cret", "", false},
		{"secret then token on stdin", "s3cret\ntok\n", createOptions{secretStdin: true, tokenStdin: true}, "s3cret", "tok", false},
		{"variable", "", createOptions{secretEnv: "TEST_SECRET", tokenEnv: "TEST_TOKEN"}, "from-env", "token-from-env", false},
		{"secret on stdin, token in a variable", "s3cret\n", createOptions{secretStdin: true, tokenEnv: "TEST_TOKEN"}, "s3cret", "token-from-env", false},

		{"empty stdin", "", createOptions{secretStdin: true}, "", "", true},
		{"token missing from stdin", "s3cret\n", createOptions{secretStdin: true, tokenStdin: true}, "", "", true},
		{"empty variable", "", createOptions{secretEnv: "TEST_EMPTY"}, "", "", true},
		{"both secret sources", "s3cret\n", createOptions{secretStdin: true, secretEnv: "TEST_SECRET"}, "", "", true},
		{"both token sources", "s3cret\ntok\n", createOptions{secretStdin: true, tokenStdin: true, tokenEnv: "TEST_TOKEN"}, "", "", true},
		{"no source and no terminal", "s3cret\n", createOptions{}, "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := TestIO(tt.stdin)
			secret, token, err := readSecrets(io, &tt.o)
			var usage *usageError
			if tt.usage {
				if !errors.As(err, &usage) {
					t.Errorf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if secret != tt.secret || token != tt.token {
				t.Errorf("got %q, %q; want %q, %q", secret, token, tt.secret, tt.token)
			}
		})
	}
}
