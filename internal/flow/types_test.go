package flow

import (
	"context"
	"strings"
	"testing"
	"time"
)

// typedFlow is a flow whose last step's with holds the line under test:
// a listing, an aggregate of it, a download, a schedule trigger and
// inputs of each type come before it.
func typedFlow(trigger, line string) string {
	file := `      file: "{{ steps.get.file }}"`
	if strings.HasPrefix(line, "file:") {
		file = ""
	}
	return `name: t
inputs:
  day: {type: string}
  n: {type: integer}
  report: {type: file}
` + trigger + `steps:
  - id: list
    module: s3.list_files
    connection: local
    with: {bucket: demo}
  - id: all
    module: flow.aggregate
    with: {from: list}
  - id: get
    module: s3.get_file
    connection: local
    with: {bucket: demo, path: a.csv}
  - id: up
    module: s3.upload_file
    connection: local
    with:
      bucket: demo
      ` + line + "\n" + file + "\n"
}

const schedule = "trigger:\n  schedule: {cron: \"0 6 * * *\"}\n"

// The line under test is line 23 (25 with a trigger); a position is the
// line, or line:column where s3flow (not expr) places the problem.
func TestExpressionsTypeChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, trigger, line string
		// want is the problem's text, at line:column when pos is set.
		want, pos string
	}{
		{"a key into a file input", "", `file: "{{ steps.list.key }}"`,
			"with.file: {{ steps.list.key }} gives text, and a file input takes a file", "23:13"},
		{"text with an expression into a file input", "", `file: "data/{{ steps.list.key }}"`,
			"with.file: data/{{ steps.list.key }} gives text", "23:13"},
		{"a string input into a file input", "", `file: "{{ inputs.day }}"`,
			"or an input of type file", ""},
		{"a time to a text function", "", `folder: "{{ upper(steps.list.lastModified) }}"`,
			"cannot use time.Time as argument (type string) to call upper", "23"},
		{"date of a time", "", `folder: "{{ date(steps.list.lastModified) }}"`,
			"date() reads text as a time, and its argument is a time already", "23:19"},
		{"date of now", "", `folder: "{{ date(now()) }}"`,
			"its argument is a time already", ""},
		{"a number plus text", "", `folder: "{{ steps.list.size + 'x' }}"`,
			"mismatched types int64 and string", ""},
		{"a field of an item of an aggregate", "", `folder: "{{ steps.all.items[0].sise }}"`,
			"unknown field sise", ""},
		{"text into a boolean input", "", `no_overwrite: "{{ steps.list.key }}"`,
			"gives text, and the input takes a boolean; compare it", "23:21"},
		{"text into an integer input", "", `part_size: "{{ steps.list.key }}"`,
			"gives text, and the input takes an integer; convert it with int(...)", "23:18"},
		{"a number into an integer input", "", `part_size: "{{ steps.list.size * 2 }}"`, "", ""},
		{"a file into text", "", `folder: "x/{{ steps.get.file }}"`,
			"writes a file into text", "23:15"},
		{"a list into text", "", `folder: "{{ steps.all.items }}"`,
			"gives a list, and the input takes text", ""},
		{"no trigger", "", `folder: "{{ trigger.scheduledAt }}"`,
			"the flow has no trigger, so trigger.* holds nothing", "23:19"},
		{"a key the trigger does not give", schedule, `folder: "{{ trigger.key }}"`,
			"trigger.key: the flow's trigger gives no such key (type, scheduledAt, catchUp)", "25:19"},
		{"a trigger time to a text function", schedule, `folder: "{{ lower(trigger.scheduledAt) }}"`,
			"cannot use time.Time as argument", ""},

		// What type-checks.
		{"a file output into a file input", "", `file: "{{ steps.get.file }}"`, "", ""},
		{"a file input into a file input", "", `file: "{{ inputs.report }}"`, "", ""},
		{"file.text into a file input", "", `file: "{{ file.text('n.txt', steps.all.count) }}"`, "", ""},
		{"a time written as text", "", `folder: "archive/{{ steps.list.lastModified }}"`, "", ""},
		{"a time formatted", "", `folder: "{{ format(steps.list.lastModified, 'YYYY/MM/DD') }}"`, "", ""},
		{"today", "", `folder: "daily/{{ format(now(), 'YYYY-MM-DD') }}"`, "", ""},
		{"time arithmetic", "", `folder: "{{ steps.list.lastModified > now() - duration('24h') ? 'new' : 'old' }}"`, "", ""},
		{"a trigger time formatted", schedule, `folder: "{{ format(trigger.scheduledAt, 'YYYY-MM-DD', 'Europe/Berlin') }}"`, "", ""},
		{"an optional input compared", "", `folder: "{{ inputs.day != '' ? inputs.day : 'all' }}"`, "", ""},
		{"a field of an aggregated item", "", `folder: "{{ steps.all.items[0].key }}"`, "", ""},
		{"a map of the items", "", `folder: "{{ join(map(steps.all.items, .key), '-') }}"`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := typedFlow(tt.trigger, tt.line)
			_, err := Parse("f.yaml", []byte(src), setup(t))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			ps := problems(t, src)
			for _, p := range ps {
				if strings.Contains(p.Msg, tt.want) {
					if at := p.Pos.String(); tt.pos != "" && at != tt.pos && !strings.HasPrefix(at, tt.pos+":") {
						t.Errorf("problem at %s, want %s: %s", p.Pos, tt.pos, p.Msg)
					}
					return
				}
			}
			t.Errorf("no problem says %q; got %v", tt.want, asErrors(ps))
		})
	}
}

func TestConnectionTakesNoTriggerData(t *testing.T) {
	t.Parallel()
	src := `name: t
trigger:
  webhook: {secret_env: HOOK}
steps:
  - id: list
    module: s3.list_files
    connection: "{{ trigger.body.conn }}"
    with: {bucket: demo}
`
	ps := problems(t, src)
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, "a connection may use inputs only") || ps[0].Pos.String() != "7:21" {
		t.Fatalf("got %v, want one problem at 7:21 saying a connection may use inputs only", asErrors(ps))
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 7, 15, 4, 5, 678_000_000, time.UTC)
	tests := []struct {
		layout string
		zone   []string
		want   string
	}{
		{"YYYY-MM-DD", nil, "2026-03-07"},
		{"YY/M/D", nil, "26/3/7"},
		{"HH:mm:ss.SSS", nil, "15:04:05.678"},
		{"h:mm A", nil, "3:04 PM"},
		{"hh a", nil, "03 pm"},
		{"dddd, D MMMM YYYY", nil, "Saturday, 7 March 2026"},
		{"ddd MMM", nil, "Sat Mar"},
		{"X", nil, "1772895845"},
		{"x", nil, "1772895845678"},
		{"[Week of] YYYY-MM-DD", nil, "Week of 2026-03-07"},
		{"YYYY-MM-DDTHH:mm:ssZ", nil, "2026-03-07T15:04:05+00:00"},
		{"YYYY-MM-DD HH:mm ZZ", []string{"Europe/Berlin"}, "2026-03-07 16:04 +0100"},
		{"YYYY-MM-DD", []string{"Pacific/Kiritimati"}, "2026-03-08"},
		{"[reports]/YYYY/MM/", nil, "reports/2026/03/"},
		{"reports", nil, "report5"}, // letters are tokens: text goes in [brackets]
	}
	for _, tt := range tests {
		got, err := formatTime(at, tt.layout, tt.zone...)
		if err != nil || got != tt.want {
			t.Errorf("format(t, %q, %v) = %q, %v; want %q", tt.layout, tt.zone, got, err, tt.want)
		}
	}
	for _, bad := range []struct{ layout, zone, want string }{
		{"YYYY", "Mars/Olympus", "is not a time zone"},
		{"[YYYY", "", "has a [ with no ]"},
	} {
		var zone []string
		if bad.zone != "" {
			zone = []string{bad.zone}
		}
		if _, err := formatTime(at, bad.layout, zone...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("format(t, %q, %q): %v, want %q", bad.layout, bad.zone, err, bad.want)
		}
	}
}

// TestTimesReadAsText checks the one text form of a time: RFC 3339 in UTC
// in templates, as in JSON and CSV.
func TestTimesReadAsText(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 6, 0, 0, 0, time.FixedZone("CET", 3600))
	tmpl := compile(t, "at {{ steps.list.lastModified }}")
	env := Env(nil, nil, map[string]any{"list": map[string]any{"lastModified": at}})
	got, err := tmpl.Eval(context.Background(), env)
	if err != nil || got != "at 2026-12-01T05:00:00Z" {
		t.Fatalf("got %q, %v; want %q", got, err, "at 2026-12-01T05:00:00Z")
	}
	if c := csvCell(at); c != "2026-12-01T05:00:00Z" {
		t.Errorf("csv cell %q", c)
	}
}

// TestBrokenTriggerNoCascade: a trigger written with a problem is reported
// once, where it is written; the steps that read trigger.* are not blamed
// for it.
func TestBrokenTriggerNoCascade(t *testing.T) {
	t.Parallel()
	ps := problems(t, typedFlow("trigger:\n  shedule: {cron: \"0 6 * * *\"}\n", `folder: "{{ trigger.scheduledAt }}"`))
	if len(ps) != 1 || !strings.Contains(ps[0].Msg, `unknown trigger "shedule"`) {
		t.Fatalf("got %v, want only the unknown trigger", asErrors(ps))
	}
}
