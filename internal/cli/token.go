package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// defaultTokenExpiry is how long a token works unless --expires says
// otherwise: a forgotten token ends on its own.
const defaultTokenExpiry = "90d"

// maxTokenDays keeps a day count from overflowing a time.Duration; longer
// than that is what "never" is for.
const maxTokenDays = 100 * 365

type tokenCreateOptions struct {
	scope   string
	expires string
}

// parseExpiry reads --expires: "never" (0), a Go duration (90m, 12h) or a
// whole number of days (30d). It must be more than nothing.
func parseExpiry(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "never" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > maxTokenDays {
			return 0, fmt.Errorf("want a duration such as 12h or 30d (1 to %d days), or \"never\"; got %q", maxTokenDays, v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("want a duration such as 12h or 30d (at least 1s), or \"never\"; got %q", v)
	}
	return d, nil
}
