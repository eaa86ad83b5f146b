package trigger

import (
	"strings"
	"testing"
	"time"
)

// TestFieldCheck: each field type's one check.
func TestFieldCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		field Field
		in    any
		want  any
		err   string
	}{
		{Field{Type: Text}, "reports", "reports", ""},
		{Field{Type: Text}, "", nil, "must be text"},
		{Field{Type: Text}, 5, nil, "must be text, got 5"},
		{Field{Type: Bool}, true, true, ""},
		{Field{Type: Bool}, "yes", nil, `must be true or false, got "yes"`},
		{Field{Type: Duration, Min: time.Second}, "90s", 90 * time.Second, ""},
		{Field{Type: Duration, Min: time.Second}, " 2m ", 2 * time.Minute, ""},
		{Field{Type: Duration, Min: time.Second}, "500ms", nil, "at least 1s"},
		{Field{Type: Duration, Min: time.Minute}, "-1h", nil, "at least 1m"},
		{Field{Type: Duration, Min: time.Minute}, 60, nil, "must be a duration such as 15m, got 60"},
		{Field{Type: TimeZone}, "../../etc/passwd", nil, "not a known time zone"},
		{Field{Type: TimeZone}, "", nil, "must be a time zone name"},
		{Field{Type: EnvName}, "HOOK_SECRET", "HOOK_SECRET", ""},
		{Field{Type: EnvName}, "HOOK SECRET", nil, "environment variable"},
		{Field{Type: EnvName}, "1X", nil, "environment variable"},
		{Field{Type: Connection}, "prod", "prod", ""},
		{Field{Type: Connection}, "../prod", nil, "connection name"},
		{Field{Type: Cron}, " ", nil, "must be a cron expression"},
		{Field{Type: Choice, Choices: []string{"url", "none"}}, "none", "none", ""},
		{Field{Type: Choice, Choices: []string{"url", "none"}}, "uri", nil, `must be one of url, none, got "uri"; did you mean "url"?`},
		{Field{Type: Choice, Choices: []string{"url", "none"}}, true, nil, "must be one of url, none, got true"},
	} {
		got, err := tt.field.Check(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%v %#v: err = %v, want %q", tt.field.Type, tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%v %#v = %#v, %v; want %#v", tt.field.Type, tt.in, got, err, tt.want)
		}
	}
	if l, err := (Field{Type: TimeZone}).Check("Europe/Berlin"); err != nil || l.(*time.Location).String() != "Europe/Berlin" {
		t.Errorf("Europe/Berlin = %v, %v", l, err)
	}
}

// TestKindsDeclared: every kind is complete, so the parser, the reference
// and the Studio can rely on the declaration.
func TestKindsDeclared(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if k.Name == "" || k.Title == "" || k.Help == "" || len(k.Payload) == 0 || k.Decode == nil {
			t.Errorf("kind %q is missing a name, title, help, payload or Decode", k.Name)
		}
		if seen[k.Name] {
			t.Errorf("kind %q is declared twice", k.Name)
		}
		seen[k.Name] = true
		for _, f := range k.Fields {
			if f.Help == "" {
				t.Errorf("%s.%s has no help", k.Name, f.Name)
			}
			if f.Required && f.Default != nil {
				t.Errorf("%s.%s is required and has a default", k.Name, f.Name)
			}
			if f.Type == Duration && f.Min <= 0 {
				t.Errorf("%s.%s is a duration without a minimum", k.Name, f.Name)
			}
			if (f.Type == Words || f.Type == Choice) != (len(f.Choices) > 0) {
				t.Errorf("%s.%s: choices go with a list of words, and only with it", k.Name, f.Name)
			}
		}
		for _, p := range k.Payload {
			if p.Help == "" || p.Example == nil {
				t.Errorf("%s: trigger.%s has no help or example", k.Name, p.Name)
			}
			if _, err := p.convert(p.Example); err != nil {
				t.Errorf("%s: trigger.%s's example is not of its type: %v", k.Name, p.Name, err)
			}
		}
		if !strings.Contains(Reference(), "### `"+k.Name+"`") {
			t.Errorf("the reference leaves out %s", k.Name)
		}
	}
}

// TestShortDuration: only zero trailing units go (every 10m read "every 1").
func TestShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 20 * time.Second: "20s", time.Minute: "1m", 10 * time.Minute: "10m",
		90 * time.Second: "1m30s", time.Hour: "1h", 90 * time.Minute: "1h30m", 10 * time.Hour: "10h", 500 * time.Millisecond: "500ms",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
