package trigger

import (
	"strings"
	"testing"
	"time"
)

// TestScheduleNext: good schedules decode and tick where they should.
func TestScheduleNext(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 25, 5, 30, 0, 0, time.UTC)
	tests := []struct {
		written map[string]any
		next    time.Time
		catchUp bool
	}{
		{map[string]any{"cron": "0 6 * * *"}, time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC), true},
		// 06:00 in Berlin (UTC+1 in November) is 05:00 UTC: tomorrow's.
		{map[string]any{"cron": "0 6 * * *", "timezone": "Europe/Berlin"}, time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC), true},
		{map[string]any{"cron": "@daily", "catch_up": false}, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), false},
		{map[string]any{"every": "15m"}, base.Add(15 * time.Minute), true},
	}
	for _, tt := range tests {
		cfg, err := scheduleKind.DecodeValues(tt.written)
		if err != nil {
			t.Errorf("%v: %v", tt.written, err)
			continue
		}
		sc := cfg.(*Schedule)
		if got := sc.Next(base); !got.Equal(tt.next) {
			t.Errorf("%v: next after %s = %s, want %s", tt.written, base, got.UTC(), tt.next)
		}
		if sc.CatchUp != tt.catchUp {
			t.Errorf("%v: catch_up = %v, want %v", tt.written, sc.CatchUp, tt.catchUp)
		}
	}
}

// TestScheduleProblems: each problem names its field (the parser places
// it by that name).
func TestScheduleProblems(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		written map[string]any
		field   string
		msg     string
	}{
		{map[string]any{"cron": "* * * * *", "every": "1m"}, "", "not both"},
		{map[string]any{}, "", "needs cron or every"},
		{map[string]any{"cron": "61 * * * *"}, "cron", "is not a cron expression"},
		{map[string]any{"cron": "@every 10s"}, "cron", "more often than once a minute"},
		{map[string]any{"cron": "0 0 30 2 *"}, "cron", "never fires"},
		{map[string]any{"cron": "TZ=UTC"}, "cron", "timezone:"},
		{map[string]any{"cron": "CRON_TZ=UTC 0 6 * * *"}, "cron", "timezone:"},
		{map[string]any{"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "timezone", "not a known time zone"},
		{map[string]any{"every": "59s"}, "every", "at least 1m"},
		{map[string]any{"every": "1h", "catch_up": "no"}, "catch_up", `must be true or false, got "no"`},
		{map[string]any{"every": "1h", "shedule": 1}, "shedule", "unknown key"},
	} {
		_, err := scheduleKind.DecodeValues(tt.written)
		errs := FieldErrors(err)
		if len(errs) != 1 || errs[0].Field != tt.field || !strings.Contains(errs[0].Msg, tt.msg) {
			t.Errorf("%v: problems %v, want one on %q saying %q", tt.written, errs, tt.field, tt.msg)
		}
	}
}

// FuzzParseCron: no text makes the cron parser panic.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 6 * * *", "TZ=UTC", "CRON_TZ=UTC", "TZ=", " TZ=UTC", "@every 1h", "@every", "* * * * * *", "0 0 30 2 *", "TZ=UTC\t", "CRON_TZ=Nowhere 0 6 * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, _ = scheduleKind.DecodeValues(map[string]any{"cron": spec})
	})
}
