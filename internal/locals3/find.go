package locals3

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// HelperName is the program that serves the local endpoint.
const HelperName = "s3flow-local"

// HelperEnv names the s3flow-local program to run, before any search.
const HelperEnv = "S3FLOW_LOCAL_BIN"

const modulePath = "github.com/s3flow/s3flow"

// Find returns the s3flow-local program: $S3FLOW_LOCAL_BIN, else the one
// next to the running s3flow, else one on PATH. A development build run
// inside its source tree (the README's "go run ./cmd/s3flow ...") builds it
// from that source into the user's cache instead, so a fresh checkout runs
// the main job with one command.
func Find(ctx context.Context) (string, error) {
	if p := os.Getenv(HelperEnv); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%s: not an executable file", HelperEnv, p)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			p := filepath.Join(filepath.Dir(exe), HelperName)
			if isExecutable(p) {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p, nil
	}
	if root, ok := sourceTree(); ok {
		return buildFromSource(ctx, root)
	}
	return "", fmt.Errorf("the local connection needs the %s program next to s3flow or on PATH (or named by %s); install both with: go install %s/cmd/...@latest",
		HelperName, HelperEnv, modulePath)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// sourceTree returns the s3flow module's folder when this binary is a
// development build and the working directory is inside that source.
func sourceTree() (string, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != modulePath || bi.Main.Version != "(devel)" {
		return "", false
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func declaresModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}

// buildFromSource runs "go build" for cmd/s3flow-local; the go command
// relinks only when the source changed, so a warm call costs a moment.
func buildFromSource(ctx context.Context, root string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the local connection needs %s: it is not installed, and there is no go command to build it from %s", HelperName, root)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a folder to build %s in: %w", HelperName, err)
	}
	out := filepath.Join(cache, "s3flow", "dev", HelperName)
	build := exec.CommandContext(ctx, goTool, "build", "-o", out, "./cmd/"+HelperName)
	build.Dir = root
	// Pure Go, as README.md installs it: no libc mapped into the process.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s from %s: %w\n%s", HelperName, root, err, msg)
	}
	if !isExecutable(out) {
		return "", errors.New("go build left no " + out)
	}
	return out, nil
}
