// Package days reads durations as people write them for retention and
// age: Go's (720h, 90m) and days (30d, 1d12h). One reader serves the
// CLI's --keep flags and the modules' older_than.
package days

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxDays bounds a count of days (about 273 years) so that the sum fits a
// time.Duration.
const maxDays = 100_000

var daysPrefix = regexp.MustCompile(`^(\d+)d(.*)$`)

// Error is a duration that does not read: Why is the rule it breaks.
type Error struct {
	Input string
	Why   string
}

const (
	NotADuration = "is not a duration (such as 30d, 1d12h or 720h)"
	Negative     = "is negative"
	TooLong      = "is too long (at most 100000 days)"
)

func (e *Error) Error() string { return fmt.Sprintf("%q %s", e.Input, e.Why) }

// Parse reads a duration: Go's syntax, optionally led by a count of days
// (7d, 1d12h). Negative durations are refused.
func Parse(s string) (time.Duration, error) {
	v := strings.TrimSpace(s)
	var d time.Duration
	rest := v
	if m := daysPrefix.FindStringSubmatch(v); m != nil {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > maxDays {
			return 0, &Error{s, TooLong}
		}
		d, rest = time.Duration(n)*24*time.Hour, m[2]
	}
	if rest != "" || v == "" {
		x, err := time.ParseDuration(rest)
		if err != nil {
			return 0, &Error{s, NotADuration}
		}
		if x < 0 {
			return 0, &Error{s, Negative}
		}
		if x > math.MaxInt64-d {
			return 0, &Error{s, TooLong}
		}
		d += x
	}
	return d, nil
}

// Format writes a duration in days where it is whole days (30d), else in
// Go's syntax.
func Format(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// Flag is a pflag.Value for a duration flag that takes days.
type Flag struct{ D *time.Duration }

func (f Flag) String() string {
	if f.D == nil {
		return ""
	}
	return Format(*f.D)
}

func (f Flag) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*f.D = d
	return nil
}

func (f Flag) Type() string { return "duration" }
