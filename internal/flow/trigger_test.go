package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/trigger"
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
		{"short every", "    every: 30s\n", Pos{4, 12}, `schedule.every: must be a duration of at least 1m, got "30s"`},
		{"both", "    cron: \"0 6 * * *\"\n    every: 1h\n", Pos{4, 5}, "schedule: takes cron or every, not both"},
		{"neither", "    catch_up: true\n", Pos{4, 5}, "schedule: needs cron or every"},
		{"catch_up not a bool", "    every: 1h\n    catch_up: sometimes\n", Pos{5, 15}, "schedule.catch_up: must be true or false"},
		{"unknown key", "    every: 1h\n    timezon: UTC\n", Pos{5, 5}, "schedule.timezon: unknown key"},
		{"not a mapping", "    \"0 6 * * *\"\n", Pos{4, 5}, "schedule: must be a mapping"},
		{"catch_up as text", "    every: 1h\n    catch_up: \"no\"\n", Pos{5, 15}, `schedule.catch_up: must be true or false, got "no"`},
		{"every as a number", "    every: 60\n", Pos{4, 12}, "schedule.every: must be a duration such as 15m, got 60"},
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

// TestParseTriggers: a trigger is checked against its kind's declaration
// when the flow is parsed; a typo is a problem at its place with a
// suggestion, never a trigger silently dropped.
func TestParseTriggers(t *testing.T) {
	t.Parallel()
	flowWith := func(trigger string) string {
		return "name: t\ntrigger:\n" + trigger + "steps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	}
	tests := []struct {
		name    string
		trigger string
		pos     Pos
		msg     string
	}{
		{"misspelt kind", "  shedule: {cron: \"0 6 * * *\"}\n", Pos{3, 3}, `trigger: unknown trigger "shedule"; did you mean "schedule"?`},
		{"unknown kind", "  email: {}\n", Pos{3, 3}, `unknown trigger "email" (webhook, schedule, watch_files, s3_event)`},
		{"misspelt key", "  schedule: {every: 1h, timezon: UTC}\n", Pos{3, 25}, `trigger.schedule.timezon: unknown key; did you mean "timezone"?`},
		{"webhook secret", "  webhook: {secret: X}\n", Pos{3, 13}, `trigger.webhook.secret: unknown key; did you mean "secret_env"?`},
		{"webhook needs its variable", "  webhook: {}\n", Pos{3, 12}, "trigger.webhook: secret_env is required"},
		{"webhook variable name", "  webhook: {secret_env: \"A B\"}\n", Pos{3, 25}, "trigger.webhook.secret_env: must be the name of an environment variable"},
		{"schedule too often", "  schedule: {every: 10s}\n", Pos{3, 21}, "trigger.schedule.every: must be a duration of at least 1m"},
		{"watch needs a bucket", "  watch_files: {connection: prod}\n", Pos{3, 16}, "trigger.watch_files: bucket is required"},
		{"watch every", "  watch_files: {connection: prod, bucket: b, every: 500ms}\n", Pos{3, 53}, "trigger.watch_files.every: must be a duration of at least 1s"},
		{"watch connection name", "  watch_files: {connection: \"../x\", bucket: b}\n", Pos{3, 29}, "trigger.watch_files.connection:"},
		{"watch fire_existing", "  watch_files: {connection: prod, bucket: b, fire_existing: yes please}\n", Pos{3, 61}, "trigger.watch_files.fire_existing: must be true or false"},
		{"watch move_to inside", "  watch_files: {connection: prod, bucket: b, prefix: in/, after: {success: {move_to: in/done/}}}\n", Pos{3, 86}, `trigger.watch_files.after.success.move_to: "in/done/" is inside the watched prefix "in/"`},
		{"watch move_to whole bucket", "  watch_files: {connection: prod, bucket: b, after: {failure: {move_to: failed/}}}\n", Pos{3, 73}, `trigger.watch_files.after.failure.move_to: "failed/" is inside the watched bucket`},
		{"watch move_to absolute", "  watch_files: {connection: prod, bucket: b, prefix: in, after: {success: {move_to: /done/}}}\n", Pos{3, 85}, "trigger.watch_files.after.success.move_to: must be relative to the bucket"},
		{"watch move_to no slash", "  watch_files: {connection: prod, bucket: b, prefix: in, after: {success: {move_to: done}}}\n", Pos{3, 85}, "trigger.watch_files.after.success.move_to: must end with / (a folder, such as done/)"},
		{"watch move_to dotdot", "  watch_files: {connection: prod, bucket: b, prefix: in, after: {success: {move_to: ../in/}}}\n", Pos{3, 85}, "trigger.watch_files.after.success.move_to: must be a plain folder path"},
		{"watch after misspelt", "  watch_files: {connection: prod, bucket: b, prefix: in, after: {sucess: delete}}\n", Pos{3, 66}, `trigger.watch_files.after.sucess: unknown key; did you mean "success"?`},
		{"watch after word", "  watch_files: {connection: prod, bucket: b, prefix: in, after: {success: remove}}\n", Pos{3, 75}, `trigger.watch_files.after.success: must be delete or {move_to: PREFIX}, got "remove"`},
		{"watch after move key", "  watch_files: {connection: prod, bucket: b, prefix: in, after: {success: {move: done/}}}\n", Pos{3, 76}, `trigger.watch_files.after.success.move: unknown key; did you mean "move_to"?`},
		{"watch after a word", "  watch_files: {connection: prod, bucket: b, after: delete}\n", Pos{3, 53}, "trigger.watch_files.after: must be a mapping"},
		{"watch events", "  watch_files: {connection: prod, bucket: b, events: [created, changed]}\n", Pos{3, 54}, `trigger.watch_files.events: "changed" is not one of created, modified`},
		{"watch settle", "  watch_files: {connection: prod, bucket: b, settle: soon}\n", Pos{3, 54}, "trigger.watch_files.settle: must be a duration"},
		{"watch start_after modified", "  watch_files: {connection: prod, bucket: b, events: [modified], start_after: true}\n", Pos{3, 79}, "trigger.watch_files.start_after: lists only keys after the greatest seen"},
		{"s3_event misspelt", "  s3_events: {connection: prod, bucket: b}\n", Pos{3, 3}, `unknown trigger "s3_events"; did you mean "s3_event"?`},
		{"s3_event needs a bucket", "  s3_event: {connection: prod}\n", Pos{3, 13}, "trigger.s3_event: bucket is required"},
		{"s3_event needs a connection", "  s3_event: {bucket: b}\n", Pos{3, 13}, "trigger.s3_event: connection is required"},
		{"s3_event misspelt key", "  s3_event: {connection: prod, bucket: b, sufix: .csv}\n", Pos{3, 43}, `trigger.s3_event.sufix: unknown key; did you mean "suffix"?`},
		{"s3_event events a word", "  s3_event: {connection: prod, bucket: b, events: created}\n", Pos{3, 51}, `trigger.s3_event.events: must be a list of one or more of created, removed,`},
		{"s3_event events empty", "  s3_event: {connection: prod, bucket: b, events: []}\n", Pos{3, 51}, "trigger.s3_event.events: must be a list of one or more of"},
		{"s3_event event misspelt", "  s3_event: {connection: prod, bucket: b, events: [created, remved]}\n", Pos{3, 51}, `trigger.s3_event.events: "remved" is not one of created, removed, restored, tagged, acl, expired, transitioned, replicated; did you mean "removed"?`},
		{"s3_event event twice", "  s3_event: {connection: prod, bucket: b, events: [created, created]}\n", Pos{3, 51}, `trigger.s3_event.events: lists "created" twice`},
		{"s3_event event a number", "  s3_event: {connection: prod, bucket: b, events: [1]}\n", Pos{3, 51}, `trigger.s3_event.events: 1 is not one of created`},
		{"s3_event secret variable", "  s3_event: {connection: prod, bucket: b, secret_env: \"A-B\"}\n", Pos{3, 55}, "trigger.s3_event.secret_env: must be the name of an environment variable"},
		{"s3_event prefix a number", "  s3_event: {connection: prod, bucket: b, prefix: 7}\n", Pos{3, 51}, "trigger.s3_event.prefix: must be text, got 7"},
		{"s3_event bucket a list", "  s3_event: {connection: prod, bucket: [a, b]}\n", Pos{3, 40}, "trigger.s3_event.bucket: must be text"},
		{"s3_event key_encoding", "  s3_event: {connection: prod, bucket: b, key_encoding: raw}\n", Pos{3, 57}, `trigger.s3_event.key_encoding: must be one of url, none, got "raw"`},
		{"s3_event queue_url ftp", "  s3_event: {connection: prod, bucket: b, queue_url: \"ftp://h/q\"}\n", Pos{3, 54}, "trigger.s3_event.queue_url: must be an http or https URL"},
		{"s3_event queue_url no host", "  s3_event: {connection: prod, bucket: b, queue_url: \"https:///q\"}\n", Pos{3, 54}, "trigger.s3_event.queue_url: must be an http or https URL"},
		{"s3_event queue_url a number", "  s3_event: {connection: prod, bucket: b, queue_url: 5}\n", Pos{3, 54}, "trigger.s3_event.queue_url: must be an http or https URL, got 5"},
		{"s3_event queue_url password", "  s3_event: {connection: prod, bucket: b, queue_url: \"https://u:p@h/q\"}\n", Pos{3, 54}, "trigger.s3_event.queue_url: must not hold a user name or password"},
		{"s3_event queue_url and secret", "  s3_event: {connection: prod, bucket: b, queue_url: \"https://h/q\", secret_env: EV}\n", Pos{3, 81}, "trigger.s3_event.secret_env: not used with queue_url"},
		{"s3_event queue needs a connection", "  s3_event: {bucket: b, queue_url: \"https://h/q\"}\n", Pos{3, 13}, "trigger.s3_event: connection is required"},
		{"s3_event queue with local", "  s3_event: {connection: local, bucket: b, queue_url: \"https://h/q\"}\n", Pos{3, 26}, "trigger.s3_event.connection: the local endpoint has no SQS queues"},
		{"s3_event queue_protocol", "  s3_event: {connection: prod, bucket: b, queue_url: \"https://h/q\", queue_protocol: xml}\n", Pos{3, 85}, `trigger.s3_event.queue_protocol: must be one of json, query, got "xml"`},
		{"kind not a mapping", "  webhook: true\n", Pos{3, 12}, "trigger.webhook: must be a mapping of secret_env"},
		{"trigger not a mapping", "  - webhook\n", Pos{3, 3}, "trigger must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var found *Problem
			got := problems(t, flowWith(tt.trigger))
			for _, p := range got {
				if strings.Contains(p.Msg, tt.msg) {
					found = p
				}
			}
			if found == nil {
				t.Fatalf("no problem says %q; got %v", tt.msg, got)
			}
			if found.Pos != tt.pos {
				t.Errorf("problem %q is at %v, want %v", found.Msg, found.Pos, tt.pos)
			}
		})
	}
}

// TestParseTriggersTyped: good triggers come back typed, defaults filled.
func TestParseTriggersTyped(t *testing.T) {
	t.Parallel()
	src := "name: t\ntrigger:\n  webhook: {secret_env: HOOK_SECRET}\n  watch_files: {connection: prod, bucket: reports}\n" +
		"steps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	f, err := Parse("t.yaml", []byte(src), setup(t))
	if err != nil {
		t.Fatal(err)
	}
	hook, ok := f.Trigger("webhook")
	if !ok || hook.Config.(*trigger.Webhook).SecretEnv != "HOOK_SECRET" {
		t.Errorf("webhook = %+v", hook)
	}
	watch, ok := f.Trigger("watch_files")
	if !ok {
		t.Fatal("no watch_files trigger")
	}
	if w := watch.Config.(*trigger.WatchFiles); w.Bucket != "reports" || w.Every != time.Minute || w.FireExisting || w.Prefix != "" {
		t.Errorf("watch_files = %+v", w)
	}
	if _, ok := f.Trigger("schedule"); ok {
		t.Error("a schedule trigger out of nowhere")
	}
	src = "name: t\ntrigger:\n  s3_event: {connection: prod, bucket: reports, prefix: in/, events: [removed, created], secret_env: EV, key_encoding: none}\n" +
		"steps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	if f, err = Parse("t.yaml", []byte(src), setup(t)); err != nil {
		t.Fatal(err)
	}
	ev, ok := f.Trigger("s3_event")
	if !ok {
		t.Fatal("no s3_event trigger")
	}
	if e := ev.Config.(*trigger.S3Event); e.Bucket != "reports" || e.Prefix != "in/" || e.Suffix != "" || e.SecretEnv != "EV" ||
		strings.Join(e.Events, ",") != "removed,created" || e.Connection != "prod" || e.KeysEncoded {
		t.Errorf("s3_event = %+v", e)
	}
	src = "name: t\ntrigger:\n  s3_event: {connection: prod, bucket: reports}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	if f, err = Parse("t.yaml", []byte(src), setup(t)); err != nil {
		t.Fatal(err)
	}
	ev, _ = f.Trigger("s3_event")
	if e := ev.Config.(*trigger.S3Event); strings.Join(e.Events, ",") != "created" || e.SecretEnv != "" || !e.KeysEncoded {
		t.Errorf("s3_event defaults = %+v", e)
	}
	src = "name: t\ntrigger:\n  s3_event: {connection: prod, bucket: reports, queue_url: \"https://sqs.eu-west-1.amazonaws.com/123456789012/ev\"}\n" +
		"steps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n"
	if f, err = Parse("t.yaml", []byte(src), setup(t)); err != nil {
		t.Fatal(err)
	}
	ev, _ = f.Trigger("s3_event")
	q, ok := ev.Config.(*trigger.S3EventQueue)
	if !ok || q.QueueURL != "https://sqs.eu-west-1.amazonaws.com/123456789012/ev" || q.Protocol != "json" || q.Bucket != "reports" || q.Connection != "prod" {
		t.Errorf("s3_event with queue_url = %#v", ev.Config)
	}
	if _, ok := ev.Config.(trigger.Runner); !ok {
		t.Error("s3_event with queue_url does not run in the background")
	}
}
