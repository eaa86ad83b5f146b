package module

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTempPatternFitsNameMax: a download's temporary name fits wherever its
// final name does (255 bytes), and is cut at a character boundary.
func TestTempPatternFitsNameMax(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"q3.csv", strings.Repeat("n", 255), strings.Repeat("é", 127), "x" + strings.Repeat("日", 85)} {
		p := TempPattern(name)
		// CreateTemp puts at most 10 random digits in place of the *.
		if n := len(p) - 1 + 10; n > 255 {
			t.Errorf("TempPattern(%d bytes) makes names of up to %d bytes", len(name), n)
		}
		if !utf8.ValidString(p) || !strings.HasPrefix(p, ".") || !strings.HasSuffix(p, ".s3flow-*") {
			t.Errorf("TempPattern(%q) = %q", name, p)
		}
		if len(name) <= 100 && p != "."+name+".s3flow-*" {
			t.Errorf("TempPattern(%q) = %q, want the whole name", name, p)
		}
	}
}
