package days

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{" 720h ", 720 * time.Hour, ""},
		{"0", 0, ""},
		{"0d", 0, ""},
		{"90m", 90 * time.Minute, ""},
		{"", 0, "is not a duration"},
		{"d", 0, "is not a duration"},
		{"7 days", 0, "is not a duration"},
		{"-1h", 0, "is negative"},
		{"1d-1h", 0, "is negative"},
		{"100001d", 0, "too long"},
		{"99999999999999999999d", 0, "too long"},
		{"100000d2562047h", 0, "too long"},
	} {
		got, err := Parse(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Parse(%q) err = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{30 * 24 * time.Hour: "30d", 36 * time.Hour: "36h0m0s", 0: "0s"} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "720h", "-1h", "100000d", "d1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := Parse(s); err == nil && d < 0 {
			t.Errorf("Parse(%q) = %v, negative", s, d)
		}
	})
}
