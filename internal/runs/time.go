package runs

import (
	"fmt"
	"time"
)

// TimeLayout is how the runs and run_events tables keep times: UTC, with
// all nine fractional digits. The width is fixed on purpose: the queries
// compare these columns as text (started_at >= ?, heartbeat_at < ?), and
// fixed-width UTC text sorts in time order. time.RFC3339Nano drops
// trailing zeros, and "…05Z" would sort after "…05.5Z".
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime is t as the runs tables keep it (TimeLayout); anything that
// compares with those columns must format its times with it.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not in the history's layout: %w", s, err)
	}
	return t, nil
}
