package flow

import (
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
)

func TestCheckReach(t *testing.T) {
	const head = "name: f\nsteps:\n"
	tests := []struct {
		name, steps string
		allowed     module.Reach
		// want is part of the problem; "" means none.
		want string
	}{
		{"file step, nothing allowed", "  - id: r\n    module: file.read\n    with: {path: a.txt}\n", 0, "3:5: step \"r\": file.read touches local files"},
		{"file step, files allowed", "  - id: r\n    module: file.read\n    with: {path: a.txt}\n", module.ReachLocalFiles, ""},
		{"file step from an expression, files allowed", "  - id: r\n    module: file.read\n    with: {path: \"{{ inputs.p }}\"}\n", module.ReachLocalFiles, ""},
		{"out to a path", "  - id: g\n    module: s3.get_file\n    connection: local\n    with: {bucket: b, path: k, out: /tmp/x}\n", 0, "with.out touches local files"},
		{"out to stdout", "  - id: g\n    module: s3.get_file\n    connection: local\n    with: {bucket: b, path: k, out: \"-\"}\n", module.ReachLocalFiles, "with.out touches standard output"},
		{"out from an expression", "  - id: g\n    module: s3.get_file\n    connection: local\n    with: {bucket: b, path: k, out: \"{{ inputs.p }}\"}\n", module.ReachLocalFiles, "with.out touches standard output"},
		{"no out: spooled", "  - id: g\n    module: s3.get_file\n    connection: local\n    with: {bucket: b, path: k}\n", 0, ""},
		{"upload a literal path", "  - id: u\n    module: s3.upload_file\n    connection: local\n    with: {bucket: b, file: /etc/passwd}\n", 0, "with.file touches local files"},
		{"keys file path", "  - id: d\n    module: s3.delete_files\n    connection: local\n    with: {bucket: b, keys_file: k.txt}\n", 0, "with.keys_file touches local files"},
		{"api body text", "  - id: a\n    module: s3.api_call\n    connection: local\n    with: {url: /b, body: \"@/etc/passwd\"}\n", 0, ""},
	}
	reg := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := head + tt.steps
			if strings.Contains(tt.steps, "inputs.p") {
				src = "name: f\ninputs:\n  p: {type: string}\nsteps:\n" + tt.steps
			}
			f, err := Parse("f.yaml", []byte(src), reg)
			if err != nil {
				t.Fatal(err)
			}
			err = f.CheckReach(tt.allowed, "why")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
