package runs

import (
	"encoding/json"
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
		"times and sized numbers": {"modified": time.Date(2026, 12, 3, 13, 40, 1, 123456789, time.FixedZone("x", 3600)),
			"zero": time.Time{}, "i32": int32(-7), "u64": uint64(1) << 63, "f32": float32(0.1), "b": uint8(255)},
	} {
		if !plain(v) {
			t.Fatalf("%s: not plain", name)
		}
		if got, want := record(v), recordViaJSON(v); got != want {
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
	if got := record(map[string]any{"s": struct{ Password string }{"p"}}); strings.Contains(got, `"p"`) {
		t.Errorf("a struct's secret was recorded: %s", got)
	}
}
