package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/locals3"
	"github.com/s3flow/s3flow/internal/locals3/gateway"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// TestMain lets the test binary stand in for s3flow-local, which the local
// connection runs (S3FLOW_LOCAL_BIN names the test binary itself).
func TestMain(m *testing.M) {
	// The local endpoint's child gets a minimal environment, so the test
	// binary knows it is s3flow-local by the name it is started under.
	if filepath.Base(os.Args[0]) == locals3.HelperName {
		os.Exit(gateway.Main(os.Args[1:], os.Stdin, os.Stderr))
	}
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	os.Setenv(locals3.HelperEnv, exe)
	os.Exit(m.Run())
}

// setup gives the test a fresh S3FLOW_HOME. It sets variables, so tests
// that call it do not run in parallel.
func setup(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	t.Setenv("S3FLOW_HOME", home)
	t.Setenv("S3FLOW_CONNECTION", "")
	t.Setenv("S3FLOW_ENCRYPTION_KEY", "")
	return home
}

// runCLI runs one command line as Main does, with buffers for streams.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	io, out, errOut := TestIO(stdin)
	code = run(t.Context(), io, args)
	return code, out.String(), errOut.String()
}

// TestExitCodes: 0 for success, 2 when the command was called wrongly, 1
// when the work failed. Errors are one "s3flow: " line on stderr.
func TestExitCodes(t *testing.T) {
	setup(t)
	for _, tt := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string // a substring of stderr; "" means stderr is empty
	}{
		{"help", "", []string{"--help"}, 0, ""},
		{"no command", "", []string{}, 0, ""},
		{"group alone shows help", "", []string{"connection"}, 0, ""},
		{"version", "", []string{"--version"}, 0, ""},

		{"unknown command", "", []string{"nope"}, 2, `s3flow: unknown command "nope" for "s3flow"`},
		{"unknown subcommand", "", []string{"s3", "lst-files"}, 2, `unknown command "lst-files" for "s3flow s3"; did you mean list-files?`},
		{"unknown flag", "", []string{"s3", "list-files", "--bogus"}, 2, "s3flow: unknown flag: --bogus"},
		{"stray argument", "", []string{"s3", "list-files", "-c", "local", "--bucket", "demo", "stray"}, 2, `takes no arguments, got ["stray"]`},
		{"missing bucket", "", []string{"s3", "list-files", "-c", "local"}, 2, "s3flow: --bucket: is required"},
		{"missing connection", "", []string{"s3", "list-files", "--bucket", "demo"}, 2, "--connection is required"},
		{"bad output", "", []string{"s3", "list-files", "-c", "local", "--bucket", "demo", "-o", "yaml"}, 2, `--output must be one of table, json, jsonl, got "yaml"`},
		{"bad integer", "", []string{"s3", "list-files", "-c", "local", "--bucket", "demo", "--limit", "x"}, 2, `invalid argument "x" for "--limit"`},
		{"bucket naming rule", "", []string{"s3", "create-bucket", "-c", "local", "--name", "Bad_Name"}, 2, `--name: bucket name "Bad_Name" breaks the rule: may contain only lowercase letters`},
		{"absolute api url", "", []string{"s3", "api-call", "-c", "local", "--url", "https://example.com/demo"}, 2, `--url: "https://example.com/demo" is absolute`},
		{"bad header", "", []string{"s3", "api-call", "-c", "local", "--url", "/demo", "--header", "nocolon"}, 2, `--header: "nocolon" must look like "name: value"`},
		{"connection without key id", "", []string{"connection", "create", "c1", "--secret-access-key-stdin"}, 2, "--access-key-id is required"},
		{"connection without secret", "", []string{"connection", "create", "c1", "--access-key-id", "AKIA1234"}, 2, "give the secret access key on standard input with --secret-access-key-stdin"},
		{"connection with empty stdin", "", []string{"connection", "create", "c1", "--access-key-id", "AKIA1234", "--secret-access-key-stdin"}, 2, "standard input holds no secret access key"},
		{"connection named local", "s\n", []string{"connection", "create", "local", "--access-key-id", "AKIA1234", "--secret-access-key-stdin"}, 2, `connection name "local" is reserved`},
		{"connection show without name", "", []string{"connection", "show"}, 2, "needs exactly one NAME"},
		{"delete local", "", []string{"connection", "delete", "local"}, 2, `connection "local" always exists and cannot be deleted`},
		{"delete env", "", []string{"connection", "delete", "env"}, 2, `connection "env" always exists`},

		{"unknown connection", "", []string{"connection", "show", "nope"}, 1, `s3flow: connection "nope": no such connection`},
		{"module with unknown connection", "", []string{"s3", "list-folders", "-c", "nope", "--bucket", "demo"}, 1, "no such connection"},
		{"delete unknown connection", "", []string{"connection", "delete", "nope"}, 1, "no such connection"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr)
			}
			switch {
			case tt.stderr == "" && stderr != "":
				t.Errorf("stderr = %q, want nothing", stderr)
			case !strings.Contains(stderr, tt.stderr):
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderr)
			}
			if tt.code != 0 {
				if stdout != "" {
					t.Errorf("stdout = %q, want nothing on failure", stdout)
				}
				if !strings.HasPrefix(stderr, "s3flow: ") || strings.Count(stderr, "\n") != 1 {
					t.Errorf("stderr = %q, want one line starting with \"s3flow: \"", stderr)
				}
			}
		})
	}
}

// TestS3ErrorExitCode runs a module against the local endpoint (started
// from this test binary, see TestMain): S3's errors are exit code 1 and
// name S3's code and request id.
func TestS3ErrorExitCode(t *testing.T) {
	setup(t)
	for _, output := range []string{"jsonl", "table"} {
		// A failed listing is not an empty one: no table header.
		code, stdout, stderr := runCLI(t, "", "s3", "list-files", "--connection", "local", "--bucket", "no-such-bucket", "-o", output)
		if code != 1 {
			t.Errorf("-o %s: exit code %d, want 1", output, code)
		}
		if stdout != "" || strings.Contains(stderr, "no files") {
			t.Errorf("-o %s: stdout = %q, stderr %q", output, stdout, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "", "s3", "list-files", "--connection", "local", "--bucket", "no-such-bucket")
	for _, want := range []string{`s3flow: list files in "no-such-bucket"`, "NoSuchBucket", "(request id "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q, want %q in it", stderr, want)
		}
	}

	code, stdout, stderr = runCLI(t, "", "s3", "list-folders", "--connection", "local", "--bucket", "demo", "-o", "table")
	if code != 0 || stdout != "PREFIX    NAME\nlogs/     logs\nphotos/   photos\nreports/  reports\nwork/     work\n" {
		t.Errorf("list-folders on the demo bucket: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestConnectionCommandsHideSecret reads every output of the connection
// commands for the secret.
func TestConnectionCommandsHideSecret(t *testing.T) {
	setup(t)
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	var all strings.Builder
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{secret + "\n", []string{"connection", "create", "prod", "--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-access-key-stdin", "--no-verify"}},
		{"", []string{"connection", "list"}},
		{"", []string{"connection", "list", "-o", "table"}},
		{"", []string{"connection", "show", "prod"}},
		{"", []string{"connection", "show", "prod", "-o", "json"}},
		{"", []string{"--debug", "connection", "show", "prod"}},
		{"", []string{"connection", "create", "--help"}},
	} {
		code, stdout, stderr := runCLI(t, c.stdin, c.args...)
		if code != 0 {
			t.Fatalf("%v: exit code %d: %s", c.args, code, stderr)
		}
		all.WriteString(stdout + stderr)
	}
	if strings.Contains(all.String(), secret) {
		t.Errorf("the secret was printed:\n%s", all.String())
	}
	if strings.Contains(all.String(), "AKIAIOSFODNN7EXAMPLE") || !strings.Contains(all.String(), `"accessKeyId":"****************MPLE"`) {
		t.Errorf("the key id is not masked:\n%s", all.String())
	}
}

// TestReport maps errors to exit codes in the one place that does it.
func TestReport(t *testing.T) {
	t.Parallel()
	input := &module.InputError{Field: "bucket", Rule: "is required"}
	deleteLike := &module.Module{Name: "s3.x", Fields: []module.Field{{Name: "keys_file", Flag: "keys-file"}, {Name: "prefix"}}}
	choose := &module.InputError{Field: "prefix", Rule: "give exactly one of {keys_file} and {prefix}, not {keys_file} and {prefix}",
		Refs: []string{"keys_file", "prefix"}}
	for _, tt := range []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"success", nil, 0, ""},
		{"usage", usagef("--output must be one of x"), 2, "s3flow: --output must be one of x\n"},
		{"input", input, 2, "s3flow: bucket: is required\n"},
		{"wrapped input", fmt.Errorf("step 2: %w", input), 2, "s3flow: step 2: bucket: is required\n"},
		{"failure", errors.New("list files: NoSuchBucket"), 1, "s3flow: list files: NoSuchBucket\n"},
		{"interrupted", fmt.Errorf("upload: %w", context.Canceled), 130, "s3flow: interrupted\n"},
		{"stopped by a signal", &interruptedError{errors.New("run 1 of flow f cancelled")}, 130, "s3flow: interrupted: run 1 of flow f cancelled\n"},
		{"input of a module command", &moduleError{deleteLike, fmt.Errorf("delete: %w", choose)}, 2,
			"s3flow: --prefix: give exactly one of --keys-file and --prefix, not --keys-file and --prefix\n"},
		{"input of a flow step", fmt.Errorf("step \"d\": %w", choose), 2,
			"s3flow: step \"d\": prefix: give exactly one of keys_file and prefix, not keys_file and prefix\n"},
		// A key the local endpoint cannot store is bad input that no one
		// field is to blame for: the rule says it all.
		{"key of a module command", &moduleError{deleteLike, fmt.Errorf("delete: %w", &s3client.KeyError{Key: "a/../b", Reason: "why"})}, 2,
			"s3flow: the local endpoint cannot store the key \"a/../b\" as given: why (its objects are files; S3 and other stores keep such a key as it is)\n"},
		{"key of a flow step", fmt.Errorf("step \"d\": %w", &s3client.KeyError{Key: "./x", Reason: "why"}), 2,
			"s3flow: step \"d\": the local endpoint cannot store the key \"./x\" as given: why (its objects are files; S3 and other stores keep such a key as it is)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			io, _, errOut := TestIO("")
			if code := report(io, tt.err); code != tt.code {
				t.Errorf("report(%v) = %d, want %d", tt.err, code, tt.code)
			}
			if errOut.String() != tt.stderr {
				t.Errorf("stderr = %q, want %q", errOut.String(), tt.stderr)
			}
		})
	}
}

// TestRunInterrupted: a flow run stopped by Ctrl-C (its context cancelled,
// as Main's signal handling does) exits 130 and says it was interrupted.
// The S3 endpoint cancels the run when the first request arrives, so the
// run is surely under way.
func TestRunInterrupted(t *testing.T) {
	home := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	}))
	defer srv.Close()
	if code, _, stderr := runCLI(t, "secret\n", "connection", "create", "hang", "--access-key-id", "AKIAHANG",
		"--secret-access-key-stdin", "--endpoint", srv.URL, "--path-style", "--no-verify"); code != 0 {
		t.Fatalf("connection create: exit %d: %s", code, stderr)
	}
	flow := filepath.Join(filepath.Dir(home), "hang.yaml")
	if err := os.WriteFile(flow, []byte("name: hang\nsteps:\n  - id: list\n    module: s3.list_files\n    connection: hang\n    with: {bucket: demo}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	io, _, errOut := TestIO("")
	if code := run(ctx, io, []string{"run", flow}); code != 130 {
		t.Errorf("exit code %d, want 130; stderr: %s", code, errOut)
	}
	if !strings.HasPrefix(errOut.String(), "s3flow: interrupted") {
		t.Errorf("stderr = %q, want it to say the run was interrupted", errOut)
	}
}
