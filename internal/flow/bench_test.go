package flow

import (
	"context"
	"testing"
)

// BenchmarkMapping measures evaluating a step's mapping for one bundle: a
// string with two expressions and an exact expression keeping its type,
// as every bundle of a flow does for every step.
func BenchmarkMapping(b *testing.B) {
	text, errs := compileValue("archive/{{ inputs.date }}/{{ steps.list.key }}", Pos{1, 1}, exprEnv(), func([]string) error { return nil })
	size, errs2 := compileValue("{{ steps.list.size * 2 }}", Pos{1, 1}, exprEnv(), func([]string) error { return nil })
	if len(errs)+len(errs2) > 0 {
		b.Fatal(errs, errs2)
	}
	env := Env(map[string]any{"date": "2026-11-24"}, nil, map[string]any{
		"list": map[string]any{"key": "reports/daily/sales.csv", "size": int64(1234)},
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := text.Eval(context.Background(), env); err != nil {
			b.Fatal(err)
		}
		if _, err := size.Eval(context.Background(), env); err != nil {
			b.Fatal(err)
		}
	}
}
