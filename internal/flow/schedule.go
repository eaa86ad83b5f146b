package flow

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cron "github.com/netresearch/go-cron"
	"go.yaml.in/yaml/v3"
)

// Schedule is a flow's checked schedule trigger:
//
//	schedule: {cron: "0 6 * * *", timezone: Europe/Berlin, catch_up: true}
//	schedule: {every: 15m}
type Schedule struct {
	// Next is the first tick after a time.
	Next func(after time.Time) time.Time
	// CatchUp runs a tick missed while the server was down (default true).
	CatchUp bool
	// Spec describes the schedule for logs: "0 6 * * * Europe/Berlin".
	Spec string
}

// ScheduleError is a problem with one key of a schedule ("" for the
// schedule itself).
type ScheduleError struct {
	Key string
	Msg string
}

func (e *ScheduleError) Error() string {
	if e.Key == "" {
		return "schedule: " + e.Msg
	}
	return "schedule." + e.Key + ": " + e.Msg
}

// minInterval is the shortest schedule: a minute.
const minInterval = time.Minute

var scheduleKeys = []string{"catch_up", "cron", "every", "timezone"}

// ParseSchedule reads a trigger's schedule, or returns nil when it has
// none. It is the one check of a schedule: Parse reports its problems at
// their line and column, and the server builds its timers from it. The
// errors are *ScheduleError, joined.
func ParseSchedule(trigger map[string]any) (*Schedule, error) {
	v, ok := trigger["schedule"]
	if !ok {
		return nil, nil
	}
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, &ScheduleError{Msg: "must be a mapping, e.g. {cron: \"0 6 * * *\"} or {every: 15m}"}
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ScheduleError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, k := range sortedKeys(raw) {
		if !slices.Contains(scheduleKeys, k) {
			bad(k, "unknown key (keys: %s)", strings.Join(scheduleKeys, ", "))
		}
	}
	s := &Schedule{CatchUp: true}
	if v, ok := raw["catch_up"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			bad("catch_up", "must be true or false, got %v", v)
		}
		s.CatchUp = b
	}
	loc := time.UTC
	if v, ok := raw["timezone"]; ok {
		tz, _ := v.(string)
		l, err := loadZone(tz)
		if err != nil {
			bad("timezone", "%v", err)
		}
		loc = l
	}
	cronSpec, hasCron := raw["cron"]
	every, hasEvery := raw["every"]
	switch {
	case hasCron && hasEvery:
		bad("", "takes cron or every, not both")
	case hasCron:
		spec, _ := cronSpec.(string)
		sched, err := parseCron(spec)
		if err != nil {
			bad("cron", "%v", err)
			break
		}
		s.Next = func(after time.Time) time.Time { return sched.Next(after.In(loc)) }
		s.Spec = spec + " " + loc.String()
		t := s.Next(time.Now())
		switch {
		case t.IsZero():
			bad("cron", "%q never fires", spec)
		case s.Next(t).Sub(t) < minInterval:
			bad("cron", "fires more often than once a minute")
		}
	case hasEvery:
		text, _ := every.(string)
		d, err := time.ParseDuration(text)
		if err != nil || d < minInterval {
			bad("every", "must be a duration of at least 1m, got %v", every)
			break
		}
		s.Next = func(after time.Time) time.Time { return after.Add(d) }
		s.Spec = "every " + text
	default:
		bad("", "needs cron or every")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// loadZone checks an IANA time zone name such as Europe/Berlin.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, fmt.Errorf("must be a time zone name such as Europe/Berlin or UTC")
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, fmt.Errorf("%q is not a known time zone (IANA names such as Europe/Berlin or UTC)", name)
	}
	return l, nil
}

// parseCron reads a five-field cron expression or a descriptor (@daily,
// @every 1h). robfig/cron panics on some input ("TZ=UTC" without
// fields): a bad schedule is an error, never a crash.
func parseCron(spec string) (sched cron.Schedule, err error) {
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, fmt.Errorf("give the time zone with timezone: (e.g. timezone: Europe/Berlin), not a TZ= or CRON_TZ= prefix")
	}
	if trimmed == "" {
		return nil, fmt.Errorf("must be a cron expression such as \"0 6 * * *\"")
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%q is not a cron expression", spec)
		}
	}()
	sched, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression: %v", spec, err)
	}
	return sched, nil
}

// checkSchedule reports a trigger's schedule problems where they are in
// the file: at the key's value, or at the schedule.
func (p *parser) checkSchedule(trigger map[string]any, n *yaml.Node) {
	_, err := ParseSchedule(trigger)
	if err == nil {
		return
	}
	at := mapValue(n, "schedule")
	if at == nil {
		at = n
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		se, ok := e.(*ScheduleError)
		if !ok {
			p.errorf(at, "trigger.%v", e)
			continue
		}
		where := at
		if se.Key != "" {
			if k := mapKey(at, se.Key); k != nil && strings.HasPrefix(se.Msg, "unknown key") {
				where = k
			} else if v := mapValue(at, se.Key); v != nil {
				where = v
			}
		}
		p.errorf(where, "trigger.%v", se)
	}
}

// mapKey and mapValue find a key of a mapping node, and its value.
func mapKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
