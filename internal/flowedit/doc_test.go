package flowedit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestDoc(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // the JSON, exactly: key order is part of it
		err  string // a DocError containing this
	}{
		{name: "keys in written order, types kept",
			src:  "steps: []\nname: x # comment\nmax_concurrent_runs: 2\ninputs:\n  on: {type: boolean, default: yes}\n  day: {default: 2026-11-24}\n",
			want: `{"steps":[],"name":"x","max_concurrent_runs":2,"inputs":{"on":{"type":"boolean","default":"yes"},"day":{"default":"2026-11-24"}}}`},
		{name: "numbers and null",
			src:  "name: n\na: 1.5\nb: .inf\nc: ~\nd: 0x10\n",
			want: `{"name":"n","a":1.5,"b":".inf","c":null,"d":16}`},
		{name: "an alias is what it points to",
			src:  "name: a\ninputs: &in {x: {type: string}}\ntrigger: {webhook: {}}\ncopy: *in\n",
			want: `{"name":"a","inputs":{"x":{"type":"string"}},"trigger":{"webhook":{}},"copy":{"x":{"type":"string"}}}`},
		{name: "merge keys", src: "base: &b {a: 1}\nname: m\nmore:\n  <<: *b\n", err: "line 4: merge keys"},
		{name: "a key that is a list", src: "name: k\n? [a, b]\n: c\n", err: "not text"},
		{name: "not a mapping", src: "- a\n", err: "a flow file is a mapping"},
		{name: "empty", src: "", err: "empty"},
		{name: "bad YAML", src: "name: [\n", err: "not valid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Doc([]byte(tt.src))
			if tt.err != "" {
				var de *DocError
				if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Doc: %v (%T), want a DocError with %q", err, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Doc:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDocAliasBomb(t *testing.T) {
	// Each level doubles the tree: the depth bound stops it long before
	// the size would matter.
	var b strings.Builder
	b.WriteString("name: bomb\na0: &a0 [x, x]\n")
	for i := 1; i < 80; i++ {
		b.WriteString(fmt.Sprintf("a%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1))
	}
	_, err := Doc([]byte(b.String()))
	var de *DocError
	if !errors.As(err, &de) {
		t.Fatalf("Doc of an alias bomb: %v, want a DocError", err)
	}
}

func TestRenderOrdersTopKeys(t *testing.T) {
	got, err := Render([]byte(`{"steps":[{"id":"a","module":"flow.filter","with":{"condition":"{{ true }}"}}],"trigger":{"webhook":{}},"name":"new","x-note":"kept","description":"yes"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `name: new
description: yes
trigger:
  webhook: {}
steps:
  - id: a
    module: flow.filter
    with:
      condition: '{{ true }}'
x-note: kept
`
	if string(got) != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

// TestDocRenderRoundTrip: every example flow, read into the form's JSON
// and written back whole, means what it meant.
func TestDocRenderRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Doc(src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out, err := Render(doc)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var a, b any
		if err := yaml.Unmarshal(src, &a); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(out, &b); err != nil {
			t.Fatalf("%s: the rendered file does not read: %v\n%s", f, err, out)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: rendered file means something else:\n%s", f, out)
		}
	}
}
