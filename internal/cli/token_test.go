package cli

import (
	"strings"
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"never", 0, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"1s", time.Second, true},
		{"36500d", 36500 * 24 * time.Hour, true},
		{"", 0, false},
		{"0", 0, false},
		{"0s", 0, false},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"-5h", 0, false},
		{"500ms", 0, false},
		{"36501d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"30", 0, false},
		{"Never", 0, false},
	} {
		got, err := parseExpiry(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseExpiry: whatever --expires holds, the answer is "never" (0) or
// at least a second, never negative, and a refusal says what is wanted.
func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"never", "30d", "12h", "0d", "-1d", "9223372036854775807d", "1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseExpiry(s)
		if err != nil {
			if d != 0 {
				t.Errorf("parseExpiry(%q) refused it but returned %v", s, d)
			}
			return
		}
		if d < 0 || (d > 0 && d < time.Second) || (d == 0 && strings.TrimSpace(s) != "never") {
			t.Errorf("parseExpiry(%q) = %v", s, d)
		}
	})
}
