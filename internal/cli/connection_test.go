package cli

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/connection"
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

// TestConnectionCreateRules: "connection create" refuses by
// connection.Validate's rules, in its words, every problem at once, each
// naming the flag that set the field; POST /api/connections gives the
// same words (internal/server's TestConnectionSettingsOverAPI).
func TestConnectionCreateRules(t *testing.T) {
	setup(t)
	for _, tt := range []struct {
		name string
		args []string
		spec connection.Spec // the same values, for Validate's own words
		want []string        // the flags named, in order
	}{
		{"part size", []string{"--part-size", "3"}, connection.Spec{PartSizeMiB: 3}, []string{"--part-size"}},
		{"unknown provider", []string{"--provider", "nope"}, connection.Spec{Provider: "nope"}, []string{"--provider"}},
		{"account id without a provider", []string{"--account-id", "abc"}, connection.Spec{AccountID: "abc"}, []string{"--account-id"}},
		{"provider needs an account id", []string{"--provider", "r2"}, connection.Spec{Provider: "r2"}, []string{"--account-id"}},
		{"every problem at once", []string{"--max-attempts", "21", "--part-size", "6000", "--parallel-parts", "65", "--region", "EU"},
			connection.Spec{MaxAttempts: 21, PartSizeMiB: 6000, ParallelParts: 65, Region: "EU"},
			[]string{"--region", "--max-attempts", "--part-size", "--parallel-parts"}},
		{"key id with a space", []string{"--access-key-id", "AK ID"}, connection.Spec{AccessKeyID: "AK ID"}, []string{"--access-key-id"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"connection", "create", "c1", "--access-key-id", "AKID", "--secret-access-key-stdin", "--no-verify"}, tt.args...)
			code, stdout, stderr := runCLI(t, "s3cret\n", args...)
			spec := tt.spec
			spec.Name, spec.SecretAccessKey = "c1", connection.NewSecret("s3cret")
			if spec.AccessKeyID == "" {
				spec.AccessKeyID = "AKID"
			}
			_, err := spec.Build()
			var ps connection.Problems
			if !errors.As(err, &ps) || len(ps) != len(tt.want) {
				t.Fatalf("Build: %v, want %d problems", err, len(tt.want))
			}
			var lines []string
			for i, p := range ps {
				lines = append(lines, tt.want[i]+" "+p.Rule)
			}
			if want := "s3flow: " + strings.Join(lines, "\n") + "\n"; code != 2 || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and:\n%s", code, stdout, stderr, want)
			}
		})
	}
	if code, _, stderr := runCLI(t, "", "connection", "show", "c1"); code != 1 || !strings.Contains(stderr, "no such connection") {
		t.Errorf("show c1: %d %s, want it not saved", code, stderr)
	}
}

// TestConnectionShownAsSummary: "connection list" and "show" print a
// connection's Summary, the view the API answers, field for field.
func TestConnectionShownAsSummary(t *testing.T) {
	home := setup(t)
	code, _, stderr := runCLI(t, "s3cret\ntok-9f8e7d\n", "connection", "create", "c1", "--access-key-id", "AKIDEXAMPLE1234", "--secret-access-key-stdin",
		"--session-token-stdin", "--provider", "minio", "--max-attempts", "5", "--part-size", "16", "--parallel-parts", "8", "--no-verify")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	st, err := connection.OpenStore(t.Context(), home)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.Get(t.Context(), "c1")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "http://127.0.0.1:9000" || !c.PathStyle || c.MaxAttempts != 5 || c.PartSizeMiB != 16 || c.ParallelParts != 8 {
		t.Errorf("saved %+v", c)
	}
	want, err := json.Marshal(c.Summary())
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "connection", "show", "c1", "-o", "jsonl")
	if code != 0 || stdout != string(want)+"\n" {
		t.Errorf("show: %d %s%s\nwant %s", code, stdout, stderr, want)
	}
	code, stdout, stderr = runCLI(t, "", "connection", "list", "-o", "jsonl")
	if code != 0 || !slices.Contains(strings.Split(stdout, "\n"), string(want)) {
		t.Errorf("list: %d %s%s\nwant a line %s", code, stdout, stderr, want)
	}
	if strings.Contains(stdout, "s3cret") || strings.Contains(stdout, "tok-9f8e7d") || strings.Contains(stdout, "AKIDEXAMPLE1234") {
		t.Errorf("list shows a secret: %s", stdout)
	}
}
