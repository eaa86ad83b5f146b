package flow

import (
	"strings"
	"testing"
	"time"
)

// TestParseSchedule: a schedule's problems are found when the flow is
// parsed, each at its line and column, and none panics.
func TestParseSchedule(t *testing.T) {
	t.Parallel()
	flowWith := func(schedule string) string {
		return "name: t\ntrigger:\n  schedule:\n" + schedule + "steps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	}
	tests := []struct {
		name     string
		schedule string
		pos      Pos
		msg      string
	}{
		{"TZ prefix alone", "    cron: \"TZ=UTC\"\n", Pos{4, 11}, "trigger.schedule.cron: give the time zone with timezone:"},
		{"TZ prefix", "    cron: \"TZ=Europe/Berlin 0 6 * * *\"\n", Pos{4, 11}, "not a TZ= or CRON_TZ= prefix"},
		{"CRON_TZ prefix", "    cron: \"CRON_TZ=UTC 0 6 * * *\"\n", Pos{4, 11}, "not a TZ= or CRON_TZ= prefix"},
		{"not cron", "    cron: \"61 * * * *\"\n", Pos{4, 11}, `schedule.cron: "61 * * * *" is not a cron expression`},
		{"too many fields", "    cron: \"0 0 6 * * * *\"\n", Pos{4, 11}, "is not a cron expression"},
		{"empty cron", "    cron: \"\"\n", Pos{4, 11}, "must be a cron expression"},
		{"cron a number", "    cron: 5\n", Pos{4, 11}, "must be a cron expression"},
		{"never fires", "    cron: \"0 0 30 2 *\"\n", Pos{4, 11}, "never fires"},
		{"too often", "    cron: \"@every 10s\"\n", Pos{4, 11}, "more often than once a minute"},
		{"unknown zone", "    cron: \"0 6 * * *\"\n    timezone: Mars/Olympus\n", Pos{5, 15}, `schedule.timezone: "Mars/Olympus" is not a known time zone`},
		{"zone a path", "    cron: \"0 6 * * *\"\n    timezone: ../../etc/passwd\n", Pos{5, 15}, "is not a known time zone"},
		{"short every", "    every: 30s\n", Pos{4, 12}, "schedule.every: must be a duration of at least 1m, got 30s"},
		{"both", "    cron: \"0 6 * * *\"\n    every: 1h\n", Pos{4, 5}, "schedule: takes cron or every, not both"},
		{"neither", "    catch_up: true\n", Pos{4, 5}, "schedule: needs cron or every"},
		{"catch_up not a bool", "    every: 1h\n    catch_up: sometimes\n", Pos{5, 15}, "schedule.catch_up: must be true or false"},
		{"unknown key", "    every: 1h\n    timezon: UTC\n", Pos{5, 5}, "schedule.timezon: unknown key"},
		{"not a mapping", "    \"0 6 * * *\"\n", Pos{4, 5}, "schedule: must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var found *Problem
			for _, p := range problems(t, flowWith(tt.schedule)) {
				if strings.Contains(p.Msg, tt.msg) {
					found = p
				}
			}
			if found == nil {
				t.Fatalf("no problem says %q; got %v", tt.msg, problems(t, flowWith(tt.schedule)))
			}
			if found.Pos != tt.pos {
				t.Errorf("problem %q is at %v, want %v", found.Msg, found.Pos, tt.pos)
			}
		})
	}
}

// TestParseScheduleValid: good schedules parse, and tick where they should.
func TestParseScheduleValid(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 25, 5, 30, 0, 0, time.UTC)
	tests := []struct {
		schedule map[string]any
		next     time.Time
	}{
		{map[string]any{"cron": "0 6 * * *"}, time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)},
		// 06:00 in Berlin (UTC+1 in November) is 05:00 UTC: tomorrow's.
		{map[string]any{"cron": "0 6 * * *", "timezone": "Europe/Berlin"}, time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)},
		{map[string]any{"cron": "@daily", "catch_up": false}, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{map[string]any{"every": "15m"}, base.Add(15 * time.Minute)},
	}
	for _, tt := range tests {
		sc, err := ParseSchedule(map[string]any{"schedule": tt.schedule})
		if err != nil {
			t.Errorf("%v: %v", tt.schedule, err)
			continue
		}
		if got := sc.Next(base); !got.Equal(tt.next) {
			t.Errorf("%v: next after %s = %s, want %s", tt.schedule, base, got.UTC(), tt.next)
		}
	}
	if sc, err := ParseSchedule(map[string]any{"webhook": map[string]any{}}); sc != nil || err != nil {
		t.Errorf("no schedule: %v, %v", sc, err)
	}
}

// FuzzParseCron: no text makes the cron parser panic.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 6 * * *", "TZ=UTC", "CRON_TZ=UTC", "TZ=", " TZ=UTC", "@every 1h", "@every", "* * * * * *", "0 0 30 2 *", "TZ=UTC\t", "CRON_TZ=Nowhere 0 6 * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, _ = ParseSchedule(map[string]any{"schedule": map[string]any{"cron": spec}})
	})
}
