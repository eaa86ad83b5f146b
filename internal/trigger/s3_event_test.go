package trigger

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// s3Record is an AWS-shaped record (eventName without s3:, key encoded as
// a form: + for a space).
func s3Record(event, bucket, key, sequencer string) map[string]any {
	return map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-12-01T06:00:00.123Z",
		"eventName": event,
		"s3": map[string]any{"s3SchemaVersion": "1.0", "bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": map[string]any{"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": sequencer}},
	}
}

func notification(records ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"Records": records})
	return b
}

// TestS3EventParse: the shapes stores send, and what is refused, with the
// record and field named.
func TestS3EventParse(t *testing.T) {
	t.Parallel()
	aws := &S3Event{KeysEncoded: true}
	n, err := aws.Parse(notification(s3Record("ObjectCreated:Put", "reports", "in/Q4+sales%2B%C3%A9t%C3%A9.csv", "0A1")))
	if err != nil {
		t.Fatal(err)
	}
	r := n.Records[0]
	if r.Key != "in/Q4 sales+été.csv" || r.Bucket != "reports" || r.EventName != "ObjectCreated:Put" || r.Size != 1024 ||
		r.Sequencer != "0A1" || r.EventTime != "2026-12-01T06:00:00.123Z" || r.Raw["eventSource"] != "aws:s3" {
		t.Errorf("record = %+v", r)
	}

	// versitygw 1.8: s3: before the name, versionId null, the key as it
	// is (key_encoding: none).
	vg := s3Record("s3:ObjectCreated:Put", "reports", "in/a b+c é%.csv", "1")
	vg["s3"].(map[string]any)["object"].(map[string]any)["versionId"] = nil
	n, err = (&S3Event{}).Parse(notification(vg))
	if err != nil || n.Records[0].EventName != "ObjectCreated:Put" || n.Records[0].VersionID != "" || n.Records[0].Key != "in/a b+c é%.csv" {
		t.Errorf("versitygw's record = %+v, %v", n, err)
	}
	if _, err := aws.Parse(notification(vg)); err == nil || !strings.Contains(err.Error(), "set key_encoding: none") {
		t.Errorf("a key not encoded, read as encoded: err = %v", err)
	}

	// The same inside an SNS Notification.
	inner := string(notification(s3Record("ObjectRemoved:Delete", "reports", "b.csv", "2")))
	env, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": inner})
	if n, err = aws.Parse(env); err != nil || len(n.Records) != 1 || n.Records[0].Key != "b.csv" {
		t.Errorf("SNS notification = %+v, %v", n, err)
	}
	confirm := []byte(`{"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"}`)
	if n, err = aws.Parse(confirm); err != nil || n.SNSType != "SubscriptionConfirmation" || !strings.HasPrefix(n.SubscribeURL, "https://sns.") {
		t.Errorf("SNS confirmation = %+v, %v", n, err)
	}
	for _, test := range []string{
		`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T06:00:00.000Z","Bucket":"reports"}`,
		`{"Service":"S3","Event":"s3:TestEvent","Time":"2026-12-01T06:00:00Z","Bucket":"Test-Bucket"}`, // versitygw's
	} {
		if n, err = aws.Parse([]byte(test)); err != nil || !n.Test || len(n.Records) != 0 {
			t.Errorf("test event %s = %+v, %v", test, n, err)
		}
	}
	if n, err = aws.Parse([]byte(`{"Records":[]}`)); err != nil || len(n.Records) != 0 {
		t.Errorf("no records = %+v, %v", n, err)
	}

	long := strings.Repeat("k", 1025)
	bad := func(edit func(r map[string]any)) []byte {
		r := s3Record("ObjectCreated:Put", "reports", "a.csv", "1")
		edit(r)
		return notification(s3Record("ObjectCreated:Put", "reports", "ok.csv", "1"), r)
	}
	object := func(r map[string]any) map[string]any { return r["s3"].(map[string]any)["object"].(map[string]any) }
	for _, tc := range []struct {
		name string
		body []byte
		msg  string
	}{
		{"not JSON", []byte(`{"Records": [`), "the body must be a JSON object"},
		{"an array", []byte(`[1, 2]`), "the body must be a JSON object"},
		{"two values", []byte(`{"Records": []} {}`), "the body must be a JSON object"},
		{"no records", []byte(`{"hello": "world"}`), "the body has no Records"},
		{"records not a list", []byte(`{"Records": {"a": 1}}`), "the body must be a JSON object"},
		{"record not an object", []byte(`{"Records": [7]}`), "Records[0].s3: not a record"},
		{"no key", bad(func(r map[string]any) { delete(object(r), "key") }), "Records[1].s3.object.key: missing"},
		{"no bucket", bad(func(r map[string]any) { delete(r["s3"].(map[string]any), "bucket") }), "Records[1].s3.bucket.name: missing"},
		{"no event name", bad(func(r map[string]any) { delete(r, "eventName") }), "Records[1].eventName: missing"},
		{"no time", bad(func(r map[string]any) { delete(r, "eventTime") }), "Records[1].eventTime: missing"},
		{"bad time", bad(func(r map[string]any) { r["eventTime"] = "yesterday" }), `Records[1].eventTime: want an RFC 3339 time`},
		{"bad escape", bad(func(r map[string]any) { object(r)["key"] = "a%zz" }), "Records[1].s3.object.key: not URL-encoded"},
		{"long key", bad(func(r map[string]any) { object(r)["key"] = long }), "Records[1].s3.object.key: longer than 1024 bytes"},
		{"long version", bad(func(r map[string]any) { object(r)["versionId"] = long }), "Records[1].s3.object.versionId: longer than 1024 bytes"},
		{"NUL in the key", bad(func(r map[string]any) { object(r)["key"] = "a%00b" }), "Records[1].s3.object.key: not a key"},
		{"not UTF-8", bad(func(r map[string]any) { object(r)["key"] = "a%FFb" }), "Records[1].s3.object.key: not a key"},
		{"NUL elsewhere", bad(func(r map[string]any) { r["userIdentity"] = "a\x00b" }), "Records[1].s3: holds a NUL character"},
		{"size text", bad(func(r map[string]any) { object(r)["size"] = "big" }), "Records[1].s3: not a record"},
		{"size negative", bad(func(r map[string]any) { object(r)["size"] = -1 }), "Records[1].s3.object.size: negative"},
		{"SNS message not JSON", []byte(`{"Type":"Notification","Message":"hello"}`), "the SNS Message: the body must be a JSON object"},
		{"SNS in SNS", []byte(`{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`), "the SNS Message: the body has no Records"},
	} {
		_, err := aws.Parse(tc.body)
		var ne *NotificationError
		if !errors.As(err, &ne) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want a NotificationError saying %q", tc.name, err, tc.msg)
		}
	}
}

// TestS3EventMatches: bucket, prefix, suffix and event words decide.
func TestS3EventMatches(t *testing.T) {
	t.Parallel()
	e := &S3Event{Bucket: "reports", Prefix: "in/", Suffix: ".csv", Events: []string{"created", "expired"}}
	for _, tc := range []struct {
		bucket, key, event string
		want               bool
	}{
		{"reports", "in/a.csv", "ObjectCreated:Put", true},
		{"reports", "in/deep/a.csv", "ObjectCreated:CompleteMultipartUpload", true},
		{"reports", "in/a.csv", "LifecycleExpiration:Delete", true},
		{"reports", "in/a.csv", "ObjectRemoved:Delete", false},
		{"reports", "in/a.csv", "ObjectCreatedX:Put", false},
		{"reports", "in/a.csv", "ObjectCreated", true},
		{"other", "in/a.csv", "ObjectCreated:Put", false},
		{"reports", "out/a.csv", "ObjectCreated:Put", false},
		{"reports", "in/a.csv.tmp", "ObjectCreated:Put", false},
		{"Reports", "in/a.csv", "ObjectCreated:Put", false},
	} {
		if got := e.Matches(S3Record{Bucket: tc.bucket, Key: tc.key, EventName: tc.event}); got != tc.want {
			t.Errorf("%s %s %s: matches = %v, want %v", tc.bucket, tc.key, tc.event, got, tc.want)
		}
	}
}

// TestS3EventReceive: one run per new matching record; a notification
// sent again, or a record twice in one, starts nothing more; a
// switched-off flow records nothing, so the same records start runs once
// it is on.
func TestS3EventReceive(t *testing.T) {
	t.Parallel()
	h := newFakeHost(t)
	e := &S3Event{Bucket: "reports", Prefix: "in/", Events: []string{"created", "removed"}, KeysEncoded: true}
	receive := func(body []byte) (S3Receipt, error) {
		t.Helper()
		n, err := e.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		return e.Receive(t.Context(), h, "f", n.Records)
	}
	// The same key created twice (sequencers differ) and removed: three
	// events; a copy of the first record in the same notification; one
	// outside the prefix.
	first := s3Record("ObjectCreated:Put", "reports", "in/a.csv", "01")
	body := notification(first, s3Record("ObjectCreated:Put", "reports", "in/a.csv", "02"),
		s3Record("ObjectRemoved:Delete", "reports", "in/a.csv", "03"), first, s3Record("ObjectCreated:Put", "reports", "out/b.csv", "04"))
	got, err := receive(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 3 || got.Duplicates != 1 || got.Ignored != 1 {
		t.Errorf("receipt = %+v, want 3 runs, 1 duplicate, 1 ignored", got)
	}
	if fired := h.takeFired(); !slices.Equal(fired, []string{"in/a.csv", "in/a.csv", "in/a.csv"}) {
		t.Errorf("fired %v", fired)
	}
	if got, err = receive(body); err != nil || len(got.Runs) != 0 || got.Duplicates != 4 {
		t.Errorf("sent again: %+v, %v; want no run and 4 duplicates", got, err)
	}
	// The same sequencer at another time (a store that restarted and
	// counts again) is another event.
	later := s3Record("ObjectCreated:Put", "reports", "in/a.csv", "01")
	later["eventTime"] = "2026-12-02T06:00:00Z"
	if got, err = receive(notification(later)); err != nil || len(got.Runs) != 1 {
		t.Errorf("a later event with an old sequencer: %+v, %v; want one run", got, err)
	}
	h.takeFired()

	h.disabled = true
	off := notification(s3Record("ObjectCreated:Put", "reports", "in/while-off.csv", "05"))
	if _, err := receive(off); !errors.Is(err, ErrFlowDisabled) {
		t.Errorf("a switched-off flow: err = %v, want ErrFlowDisabled", err)
	}
	h.disabled = false
	if got, err = receive(off); err != nil || len(got.Runs) != 1 {
		t.Errorf("after switching on: %+v, %v; want one run", got, err)
	}
	if fired := h.takeFired(); !slices.Equal(fired, []string{"in/while-off.csv"}) {
		t.Errorf("fired %v", fired)
	}
}

// FuzzS3EventParse: whatever a sender posts, it is refused with a
// NotificationError or read into records whose fields keep their bounds
// and whose payload can be recorded as JSON — never a panic.
func FuzzS3EventParse(f *testing.F) {
	for _, seed := range []string{``, `{}`, `[]`, `null`, `{"Records":[]}`, `{"Records":null}`, `{"Event":"s3:TestEvent"}`,
		`{"Type":"Notification","Message":"{\"Records\":[]}"}`, `{"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.us-east-1.amazonaws.com/"}`,
		string(notification(s3Record("ObjectCreated:Put", "reports", "in/a+b%2B%C3%A9.csv", "01"))),
		`{"Records":[{"eventName":"x","eventTime":"2026-12-01T06:00:00Z","s3":{"bucket":{"name":"b"},"object":{"key":"%","size":1e300}}}]}`,
	} {
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, encoded bool) {
		n, err := (&S3Event{KeysEncoded: encoded}).Parse(body)
		if err != nil {
			var ne *NotificationError
			if !errors.As(err, &ne) {
				t.Fatalf("%q: refused with %T %v, want a NotificationError", body, err, err)
			}
			return
		}
		for _, r := range n.Records {
			if r.Key == "" || len(r.Key) > maxS3Key || !utf8.ValidString(r.Key) || strings.ContainsRune(r.Key, 0) || r.Bucket == "" || r.EventName == "" || r.Size < 0 || len(r.identity) != 64 {
				t.Fatalf("%q: record out of bounds: %+v", body, r)
			}
			if _, err := json.Marshal(r.payload()); err != nil {
				t.Fatalf("%q: the payload cannot be recorded: %v", body, err)
			}
		}
	})
}

// TestS3EventParseEventBridge: S3 events as EventBridge delivers them (an
// API destination, or a queue) are read as the records S3's own
// notifications carry: the key as it is, the event named as S3 names it.
func TestS3EventParseEventBridge(t *testing.T) {
	t.Parallel()
	ev := func(detailType, reason, deletion, key string) []byte {
		detail := map[string]any{"version": "0", "bucket": map[string]any{"name": "reports"},
			"object": map[string]any{"key": key, "size": 198524144, "etag": "4af981f98d22a0b9979da24b259e5e42-12",
				"version-id": "uhggCJ2_B6gU2JaXWXebnXFDstO0ID6G", "sequencer": "0064D3901D00059242"},
			"request-id": "XRRTKJXSZQCWNQR1", "requester": "111122223333", "reason": reason}
		if deletion != "" {
			detail["deletion-type"] = deletion
		}
		b, _ := json.Marshal(map[string]any{"version": "0", "id": "c9888434", "detail-type": detailType, "source": "aws.s3",
			"account": "111122223333", "time": "2026-12-01T06:00:00Z", "region": "eu-west-1",
			"resources": []string{"arn:aws:s3:::reports"}, "detail": detail})
		return b
	}
	tr := &S3Event{Bucket: "reports", Prefix: "in/", Events: []string{"created"}, KeysEncoded: true}
	tests := []struct {
		body      []byte
		name, key string
		matches   bool
		err       string
	}{
		{body: ev("Object Created", "CompleteMultipartUpload", "", "in/2026-12-01T06:00 a+b.csv"),
			name: "ObjectCreated:CompleteMultipartUpload", key: "in/2026-12-01T06:00 a+b.csv", matches: true},
		{body: ev("Object Created", "PutObject", "", "in/a.csv"), name: "ObjectCreated:Put", key: "in/a.csv", matches: true},
		{body: ev("Object Deleted", "DeleteObject", "Delete Marker Created", "in/a.csv"), name: "ObjectRemoved:DeleteMarkerCreated", key: "in/a.csv"},
		{body: ev("Object Deleted", "Lifecycle Expiration", "Permanently Deleted", "in/a.csv"), name: "LifecycleExpiration:Delete", key: "in/a.csv"},
		{body: ev("Object Tags Added", "", "", "in/a.csv"), name: "ObjectTagging:Put", key: "in/a.csv"},
		{body: ev("Bucket Created", "", "", "in/a.csv"), err: `detail-type: "Bucket Created" is not an S3 object event`},
		{body: ev("Object Created", "PutObject", "", ""), err: "detail.object.key: missing"},
	}
	for _, tt := range tests {
		n, err := tr.Parse(tt.body)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse: %v, want an error with %q", err, tt.err)
			}
			continue
		}
		if err != nil || len(n.Records) != 1 {
			t.Errorf("Parse %s: %+v, %v", tt.name, n, err)
			continue
		}
		r := n.Records[0]
		if r.EventName != tt.name || r.Key != tt.key || r.Size != 198524144 || r.VersionID != "uhggCJ2_B6gU2JaXWXebnXFDstO0ID6G" || r.EventTime != "2026-12-01T06:00:00Z" {
			t.Errorf("record = %+v, want %s of %q", r, tt.name, tt.key)
		}
		if got := tr.Matches(r); got != tt.matches {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.matches)
		}
	}
}

// TestS3EventSeenPruned: records received longer ago than S3EventSeenKept
// are forgotten; newer ones are kept (they still stop a resend).
func TestS3EventSeenPruned(t *testing.T) {
	h := newFakeHost(t)
	now := time.Now()
	for key, at := range map[string]time.Time{"old": now.Add(-S3EventSeenKept - time.Hour), "new": now.Add(-S3EventSeenKept + time.Hour)} {
		if _, err := h.DB().ExecContext(t.Context(), `INSERT INTO s3_event_seen (flow, bucket, key, event, seen_at) VALUES ('f', 'b', ?, 'e', ?)`, key, at.Unix()); err != nil {
			t.Fatal(err)
		}
	}
	seenPruned.Store(0)
	pruneSeen(t.Context(), h, now)
	var keys []string
	rows, err := h.DB().QueryContext(t.Context(), `SELECT key FROM s3_event_seen ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"new"}) {
		t.Errorf("kept %v, want [new]", keys)
	}
}
