package server

import (
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/flow"
)

func TestParseSchedule(t *testing.T) {
	base := time.Date(2026, 11, 25, 5, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		trigger map[string]any
		next    time.Time // after base
		err     string
	}{
		{trigger: map[string]any{"cron": "0 6 * * *"}, next: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)},
		// 06:00 in Berlin (UTC+1 in November) is 05:00 UTC: tomorrow's.
		{trigger: map[string]any{"cron": "0 6 * * *", "timezone": "Europe/Berlin"}, next: time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)},
		{trigger: map[string]any{"every": "15m"}, next: base.Add(15 * time.Minute)},
		{trigger: map[string]any{"every": "30s"}, err: "at least 1m"},
		{trigger: map[string]any{"cron": "* * * * *", "every": "1m"}, err: "not both"},
		{trigger: map[string]any{"cron": "61 * * * *"}, err: "schedule.cron"},
		{trigger: map[string]any{"cron": "@every 10s"}, err: "more often than once a minute"},
		{trigger: map[string]any{"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, err: "timezone"},
		{trigger: map[string]any{}, err: "needs cron or every"},
		// robfig/cron panics on these; the server must not.
		{trigger: map[string]any{"cron": "TZ=UTC"}, err: "timezone:"},
		{trigger: map[string]any{"cron": "CRON_TZ=UTC"}, err: "timezone:"},
	} {
		f := &flow.Flow{Name: "f", Trigger: map[string]any{"schedule": tt.trigger}}
		sc, err := parseSchedule(f)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: err = %v, want %q", tt.trigger, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.trigger, err)
			continue
		}
		if got := sc.next(base); !got.Equal(tt.next) {
			t.Errorf("%v: next after %s = %s, want %s", tt.trigger, base, got.UTC(), tt.next)
		}
		if !sc.catchUp {
			t.Errorf("%v: catch_up should default to true", tt.trigger)
		}
	}
	sc, err := parseSchedule(&flow.Flow{Trigger: map[string]any{"schedule": map[string]any{"every": "1h", "catch_up": false}}})
	if err != nil || sc.catchUp {
		t.Errorf("catch_up: false: %+v, %v", sc, err)
	}
}
