package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDocumentedCommands runs every s3flow command a user is shown, as
// written, against the local endpoint: the command lines of the fenced
// shell blocks of README.md and docs/*.md, and the Examples of every
// command's help. A documented command that fails is a bug in the command
// or in its documentation.
//
// How it runs them:
//   - A document is one file's blocks, or all the help examples, taken in
//     the order of the command tree as help lists it (so create-bucket
//     comes before delete-bucket). Each document runs in order, in a fresh
//     S3FLOW_HOME (so with the seeded demo bucket and no connections but
//     local and env) and in a working folder holding a copy of examples/
//     and the local files the commands upload (localFiles).
//   - Each line runs with sh -c, the test binary standing in for s3flow
//     and s3flow-local on PATH (TestMain); "go run ./cmd/s3flow" is
//     s3flow. A line continued with a trailing \ is one command.
//   - RUN_ID is the newest run of the document's home, as a user would
//     copy it from 's3flow runs list'.
//   - A line must exit 0, unless it ends with a "# fails: REASON" comment:
//     then it must fail, the reason saying why (an example of an error).
//   - The few lines that cannot run here are skipped for a reason listed
//     in notRunHere; every entry must still match a documented line.
func TestDocumentedCommands(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	documents := map[string][]string{}
	for _, file := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if lines := commandLines(shellBlocks(string(text))); len(lines) > 0 {
			documents[filepath.Base(file)] = lines
		}
	}
	documents["help"] = helpExamples(t)

	total, skipped := 0, map[string]int{}
	for _, lines := range documents {
		for _, line := range lines {
			total++
			if _, why := notRun(line); why != "" {
				skipped[why]++
			}
		}
	}
	// A parser that finds nothing would pass every time.
	if total < 40 || len(documents["help"]) < 20 || len(documents["README.md"]) < 10 {
		t.Fatalf("found %d documented commands (%d in help, %d in README.md); the collection looks broken", total, len(documents["help"]), len(documents["README.md"]))
	}
	for _, skip := range notRunHere {
		if skipped[skip.why] == 0 {
			t.Errorf("notRunHere: %q matches no documented command; remove it", skip.pattern)
		}
	}

	for name, lines := range documents {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, dir := documentEnv(t, root)
			for _, line := range lines {
				if pattern, why := notRun(line); why != "" {
					t.Logf("not run (%s, /%s/): %s", why, pattern, line)
					continue
				}
				runDocumented(t, env, dir, line)
			}
		})
	}
}

// notRunHere are the documented commands that cannot run in a test: keep
// it short, and give each a reason.
var notRunHere = []struct{ pattern, why string }{
	{`\bs3flow (server|worker|local serve)\b`, "serves until it is stopped"},
	{`AKIA\.\.\.`, "needs a real AWS account's keys"},
	{`--endpoint http://127\.0\.0\.1:9000`, "needs a MinIO on 127.0.0.1:9000"},
	{`\bs3flow runs retry\b`, "needs a run that failed or was killed; testdata/script/runs.txtar does that"},
	{`connection create .*--(role-arn|profile) `, "needs an STS (AWS's, MinIO's) or a profile of a shared AWS config; TestConnectionRoleMinio and TestConnectionRoleSteps in internal/cli make each kind against MinIO"},
	{`\bs3flow s3 set-bucket-versioning\b`, "the local endpoint keeps no versions; TestSetBucketVersioningMinio runs the module against MinIO"},
	{`\bs3flow s3 unzip-file\b`, "needs the archive that the zip-files example makes, which help lists after it (alphabetically); TestUnzipFile in internal/module/s3 unzips what Zip files made"},
	{`\bs3flow s3 gunzip-file\b`, "needs a gzip object, which the demo bucket has only after gzip-file's example (the order of help examples is not fixed); testdata/script/data.txtar runs both in order"},
	{`\bs3flow trigger setup\b`, "needs a store that takes notification configurations (MinIO, AWS) and a flow on it; TestTriggerSetup in internal/cli runs it against MinIO"},
}

func notRun(line string) (pattern, why string) {
	for _, skip := range notRunHere {
		if regexp.MustCompile(skip.pattern).MatchString(line) {
			return skip.pattern, skip.why
		}
	}
	return "", ""
}

// localFiles are the files of the working folder that documented commands
// upload, as a user following the docs has them at hand.
var localFiles = map[string]string{
	"q3.csv":     "quarter,region,revenue\nQ3,north,41500.00\n",
	"report.csv": "region,units\nnorth,120\n",
}

// documentEnv makes a document's home and working folder, and the
// environment its commands run with: nothing of the developer's own
// configuration or credentials.
func documentEnv(t *testing.T, root string) (env []string, dir string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "work")
	if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS(filepath.Join(root, "examples"))); err != nil {
		t.Fatal(err)
	}
	for name, data := range localFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "S3FLOW_") || strings.HasPrefix(name, "AWS_") || name == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+base, "S3FLOW_HOME="+filepath.Join(base, "home"),
		// No instance metadata service to wait for: the env connection
		// looks for keys, finds none and says so at once.
		"AWS_EC2_METADATA_DISABLED=true")
	return env, dir
}

// failsMarker is the comment that marks a documented line as one that
// fails on purpose.
var failsMarker = regexp.MustCompile(`#\s*fails:\s*(\S.*)$`)

// runDocumented runs one line and checks its exit status.
func runDocumented(t *testing.T, env []string, dir, line string) {
	t.Helper()
	cmdline := strings.Replace(line, "go run ./cmd/s3flow", "s3flow", 1)
	if strings.Contains(cmdline, "RUN_ID") {
		cmdline = strings.ReplaceAll(cmdline, "RUN_ID", newestRun(t, env, dir))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Dir, cmd.Env = dir, env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	m := failsMarker.FindStringSubmatch(line)
	switch {
	case ctx.Err() != nil:
		t.Errorf("%s\ndid not end within 2 minutes", line)
	case err != nil && m == nil:
		t.Errorf("%s\nfailed: %v\nstderr: %s\nstdout: %s", line, err, errOut.String(), tail(out.String()))
	case err == nil && m != nil:
		t.Errorf("%s\nsucceeded, but it is marked as failing (%s)\nstdout: %s", line, m[1], tail(out.String()))
	}
}

// newestRun is the id of the newest run in env's home.
func newestRun(t *testing.T, env []string, dir string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "s3flow", "runs", "list", "-o", "jsonl")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("s3flow runs list: %v", err)
	}
	var run struct{ ID string }
	first, _, _ := bytes.Cut(out, []byte("\n"))
	if err := json.Unmarshal(first, &run); err != nil || run.ID == "" {
		t.Fatalf("RUN_ID: no run to show yet (runs list printed %q)", out)
	}
	return run.ID
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// shellBlocks returns the lines of a markdown file's fenced blocks of
// shell: ```sh, ```bash, ```console, ```shell or a fence with no language.
func shellBlocks(markdown string) []string {
	var lines []string
	in, shell := false, false
	sc := bufio.NewScanner(strings.NewReader(markdown))
	for sc.Scan() {
		line := sc.Text()
		if fence, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
			if !in {
				shell = slices.Contains([]string{"", "sh", "bash", "console", "shell"}, strings.TrimSpace(fence))
			}
			in = !in
			continue
		}
		if in && shell {
			lines = append(lines, line)
		}
	}
	return lines
}

// commandRE finds an s3flow command on a shell line: at its start, after a
// pipe or after variable assignments.
var commandRE = regexp.MustCompile(`^(\$ )?(.*\|\s*)?([A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(s3flow|go run \./cmd/s3flow)(\s|$)`)

// commandLines joins continued lines and keeps the s3flow commands.
func commandLines(lines []string) []string {
	var out []string
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		if commandRE.MatchString(line) {
			out = append(out, strings.TrimPrefix(line, "$ "))
		}
	}
	return out
}

// helpExamples walks the command tree as help shows it and returns every
// command's Examples, in that order.
func helpExamples(t *testing.T) []string {
	t.Helper()
	var examples []string
	var walk func(path []string)
	walk = func(path []string) {
		out, err := exec.CommandContext(t.Context(), "s3flow", append(path, "--help")...).Output()
		if err != nil {
			t.Fatalf("s3flow %s --help: %v", strings.Join(path, " "), err)
		}
		examples = append(examples, commandLines(section(string(out), "Examples:"))...)
		for _, l := range section(string(out), "Available Commands:") {
			name := strings.Fields(l)[0]
			if name == "help" || name == "completion" {
				continue // cobra's own, with no examples
			}
			walk(append(slices.Clone(path), name))
		}
	}
	walk(nil)
	return examples
}

// section returns the lines of a help section: after its title, up to the
// first blank line.
func section(help, title string) []string {
	_, rest, ok := strings.Cut(help, "\n"+title+"\n")
	if !ok {
		return nil
	}
	body, _, _ := strings.Cut(rest, "\n\n")
	return strings.Split(body, "\n")
}
