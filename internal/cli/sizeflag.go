package cli

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// sizeFlag is a flag holding a size in bytes, written as people write
// sizes: 500MB, 2GiB, 1.5 GB, 1048576.
type sizeFlag struct{ n *int64 }

var sizePattern = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$`)

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40,
}

func parseSize(s string) (int64, error) {
	m := sizePattern.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (such as 500MB, 2GiB or 1048576)", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	n := v * sizeUnits[m[2]]
	if err != nil || n >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return int64(n), nil
}

func (f sizeFlag) String() string {
	if f.n == nil || *f.n == 0 {
		return "0"
	}
	return byteCount(*f.n)
}

func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.n = n
	return nil
}

func (f sizeFlag) Type() string { return "size" }
