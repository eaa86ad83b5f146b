package flow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and it
// returns either a flow whose steps all have a module or Errors of located
// problems. Seeds: testdata/fuzz/FuzzParse and the examples.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, file := range examples {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	reg := setup(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Parse("fuzz.yaml", data, reg)
		if err != nil {
			if fl != nil {
				t.Fatalf("Parse returned a flow and an error: %v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse error is %T, want non-empty Errors: %v", err, err)
			}
			for _, e := range errs {
				var p *Problem
				if !errors.As(e, &p) || p.Pos.Line < 1 || p.Pos.Column < 1 {
					t.Fatalf("problem without a position: %#v", e)
				}
			}
			return
		}
		if fl == nil || fl.Name == "" || len(fl.Steps) == 0 {
			t.Fatalf("Parse succeeded with %+v", fl)
		}
		for _, st := range fl.Steps {
			if st.Module == nil || st.ID == "" {
				t.Fatalf("step without a module or id: %+v", st)
			}
		}
	})
}

// FuzzTemplate compiles arbitrary template text the way Parse does and
// evaluates what compiles in a fixed environment: neither may panic.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"plain", "{{ inputs.a }}", "x-{{ inputs.a }}-y", "{{ steps.list.key endsWith '.csv' }}",
		"{{ file.text('m.csv', csv(steps.all.items)) }}", "{{ json(steps.all) }}", "{{", "}}{{}}", "{{ 1 + }}",
	} {
		f.Add(s)
	}
	env := evalEnv()
	f.Fuzz(func(t *testing.T, s string) {
		// Only inputs.a, inputs.s and existing steps may be referenced, as
		// a parsed flow would allow.
		check := func(ref []string) error {
			if ref[0] == "inputs" && ref[1] != "a" && ref[1] != "s" {
				return errors.New("undeclared")
			}
			if ref[0] == "steps" && ref[1] != "list" && ref[1] != "all" {
				return errors.New("not an earlier step")
			}
			return nil
		}
		tmpl, errs := compileString(s, Pos{1, 1}, exprEnv(), check)
		if tmpl == nil {
			t.Fatal("compileString returned no template")
		}
		for _, err := range errs {
			var ee *exprError
			if !errors.As(err, &ee) || ee.Pos.Line < 1 || ee.Pos.Column < 1 {
				t.Fatalf("error without a position: %#v", err)
			}
		}
		if len(errs) > 0 {
			return
		}
		tmpl.Eval(context.Background(), env)
	})
}
