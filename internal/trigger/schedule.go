package trigger

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3flow/s3flow/internal/module"
	"strings"
	"time"

	cron "github.com/netresearch/go-cron"
)

var scheduleKind = &Kind{
	Name:  "schedule",
	Title: "Schedule",
	Help: "Starts a run at the times of a cron expression (in a time zone) or at a fixed interval. " +
		"A tick missed while the server was down runs once when it starts, unless catch_up is false.",
	Payload: []PayloadField{
		{Name: "scheduledAt", Type: module.Time, Help: "the tick's time", Example: "2026-12-01T06:00:00Z"},
		{Name: "catchUp", Type: module.Bool, Help: "true on a tick missed while the server was down and run late (absent otherwise)", Example: false},
	},
	Fields: []Field{
		{Name: "cron", Type: Cron, Help: "when to run: five fields (minute hour day month weekday) or @hourly, @daily, @weekly, @monthly; at most once a minute", Example: "0 6 * * 1-5"},
		{Name: "every", Type: Duration, Min: time.Minute, Help: "run at this interval instead of cron", Example: "15m"},
		{Name: "timezone", Type: TimeZone, Default: time.UTC, Help: "the time zone of cron's times (IANA name)", Example: "Europe/Berlin"},
		{Name: "catch_up", Type: Bool, Default: true, Help: "run a tick missed while the server was down when it starts"},
	},
	Decode: decodeSchedule,
}

// minInterval is the shortest schedule.
const minInterval = time.Minute

// Schedule is a checked schedule trigger.
type Schedule struct {
	// Next is the first tick after a time.
	Next    func(after time.Time) time.Time
	CatchUp bool
	spec    string
}

func (s *Schedule) Describe() string { return s.spec }

func decodeSchedule(v Values) (Config, error) {
	loc := v.Location("timezone")
	s := &Schedule{CatchUp: v.Bool("catch_up")}
	switch {
	case v.Has("cron") && v.Has("every"):
		return nil, fieldErrorf("", "takes cron or every, not both")
	case v.Has("cron"):
		spec := v.String("cron")
		sched, err := parseCron(spec)
		if err != nil {
			return nil, fieldErrorf("cron", "%v", err)
		}
		s.Next = func(after time.Time) time.Time { return sched.Next(after.In(loc)) }
		s.spec = "cron " + spec + " (" + loc.String() + ")"
		t := s.Next(time.Now())
		switch {
		case t.IsZero():
			return nil, fieldErrorf("cron", "%q never fires", spec)
		case s.Next(t).Sub(t) < minInterval:
			return nil, fieldErrorf("cron", "fires more often than once a minute")
		}
	case v.Has("every"):
		d := v.Duration("every")
		s.Next = func(after time.Time) time.Time { return after.Add(d) }
		s.spec = "every " + shortDuration(d)
	default:
		return nil, fieldErrorf("", "needs cron or every")
	}
	return s, nil
}

// parseCron reads a five-field cron expression or a descriptor (@daily,
// @every 1h). A time zone prefix is refused: it has its own key. The cron
// parser is guarded: a bad schedule is an error, never a crash.
func parseCron(spec string) (sched cron.Schedule, err error) {
	trimmed := strings.TrimSpace(spec)
	if strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ=") {
		return nil, errors.New("give the time zone with timezone: (e.g. timezone: Europe/Berlin), not a TZ= or CRON_TZ= prefix")
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%q is not a cron expression", spec)
		}
	}()
	sched, err = cron.ParseStandard(trimmed)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression: %v", spec, err)
	}
	return sched, nil
}

// Run fires the flow on its schedule until ctx ends. The last tick is kept
// in the database: a tick missed while the server was down runs once on
// start (unless catch_up is false).
func (s *Schedule) Run(ctx context.Context, h Host, flow string) {
	log := h.Logger().With("flow", flow, "trigger", "schedule")
	last, err := lastTime(ctx, h.DB(), flow, "schedule")
	if err != nil {
		log.Error("read the last tick", "error", err)
		return
	}
	now := time.Now()
	if last.IsZero() {
		last = now
		keepTime(ctx, h, flow, "schedule", now)
	}
	if due := s.Next(last); !due.After(now) {
		if s.CatchUp {
			fire(ctx, h, flow, map[string]any{"type": "schedule", "scheduledAt": due.UTC().Format(time.RFC3339), "catchUp": true})
		}
		last = now
		keepTime(ctx, h, flow, "schedule", now)
	}
	for {
		due := s.Next(last)
		timer := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		// A tick that fired is recorded even if ctx ends meanwhile (a
		// reload): the schedule that replaces this one must not fire it
		// again.
		tick := context.WithoutCancel(ctx)
		fire(tick, h, flow, map[string]any{"type": "schedule", "scheduledAt": due.UTC().Format(time.RFC3339)})
		last = due
		keepTime(tick, h, flow, "schedule", due)
	}
}

// fire queues a run and logs the outcome.
func fire(ctx context.Context, h Host, flow string, payload map[string]any) {
	id, err := h.Fire(ctx, nil, flow, payload)
	switch {
	case err != nil:
		h.Logger().Error("trigger could not queue a run", "flow", flow, "error", err)
	case id != "":
		h.Logger().Info("trigger queued a run", "flow", flow, "run", id, "trigger", payload["type"])
	}
}
