package runs

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A bundle of plain maps, lists and scalars is recorded without the round
// trip through JSON that values of other types take; both give the same
// text.
func TestRecordPlainAsViaJSON(t *testing.T) {
	for name, v := range map[string]map[string]any{
		"bundle": {"bucket": "b", "key": "in/a <&> ü.csv", "size": int64(1) << 60, "etag": `"abc"`, "versionId": ""},
		"nested secrets": {"headers": map[string]any{"Authorization": "AWS4 x", "x-amz-meta-a": "1"},
			"list": []any{map[string]any{"password": "p", "n": 1.5}, "token", nil, true}, "api_token": "t"},
		"numbers": {"f": 0.1, "big": float64(1e21), "neg": int(-3), "n": json.Number("12345678901234567890")},
		"empty":   {},
		"escapes": {"html": "<a href='x'>&</a>", "lines": "a\u2028b\u2029c", "bad utf-8": "x\xffy", "controls": "\x00\x01\b\f\n\r\t\x7f",
			"quote": `"\\`, "ünïcode": "日本"},
		"nils and nesting": {"nil list": []any(nil), "nil map": map[string]any(nil), "empty list": []any{},
			"deep": map[string]any{"b": []any{map[string]any{"z": 1, "a": map[string]any{"token": "t", "y": []any{[]any{}}}}}, "a": nil}},
		"times and sized numbers": {"modified": time.Date(2026, 12, 3, 13, 40, 1, 123456789, time.FixedZone("x", 3600)),
			"zero": time.Time{}, "i32": int32(-7), "u64": uint64(1) << 63, "f32": float32(0.1), "b": uint8(255)},
	} {
		if !plain(v) {
			t.Fatalf("%s: not plain", name)
		}
		// The same text, but for how a character that was not UTF-8 is
		// written: the round trip decodes the first "\ufffd" to the
		// character itself.
		if got, want := record(v), recordViaJSON(v); got != want && !sameJSON(t, got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	for name, v := range map[string]any{
		"a struct":    struct{ Password string }{"p"},
		"a named map": map[string]string{"secret": "s"},
		"a deep one":  []any{map[string]any{"x": []string{"a"}}},
	} {
		if plain(v) {
			t.Errorf("%s is taken for plain", name)
		}
	}
	if got, want := record(map[string]any{"n": math.NaN()}), recordViaJSON(map[string]any{"n": math.NaN()}); got != want || !strings.Contains(got, "unrecordable") {
		t.Errorf("NaN: got %s, want %s", got, want)
	}
	if got := record(map[string]any{"s": struct{ Password string }{"p"}}); strings.Contains(got, `"p"`) {
		t.Errorf("a struct's secret was recorded: %s", got)
	}
}

// sameJSON reports whether a and b hold the same values, numbers compared
// by their text.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	decode := func(s string) any {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// BenchmarkRecord: a file.list bundle as the history records it, written
// directly and through the JSON round trip other types take.
func BenchmarkRecord(b *testing.B) {
	v := map[string]any{"path": "/data/small/f00001.bin", "name": "f00001.bin", "size": int64(10240),
		"modified": time.Date(2026, 12, 3, 13, 40, 1, 123456789, time.UTC), "dir": false}
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			record(v)
		}
	})
	b.Run("via JSON", func(b *testing.B) {
		for b.Loop() {
			recordViaJSON(v)
		}
	})
}
