package trigger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

var s3EventKind = &Kind{
	Name:  "s3_event",
	Title: "S3 event notifications",
	Help: "Starts one run per record of the S3 event notifications the store pushes to POST /events/{flow} " +
		"(AWS through an SNS HTTPS subscription or an EventBridge API destination, MinIO, Ceph RGW, versitygw's --event-webhook-url). The sender authenticates " +
		"with Authorization: Bearer and the secret in secret_env, or by the flow's URL token (POST /events/{flow}/{token}; " +
		"`s3flow trigger token FLOW_FILE` makes it). `s3flow trigger setup FLOW_FILE` writes the bucket's notification configuration " +
		"for stores that take one (MinIO, AWS). Records of other buckets, keys or events are ignored. Each record is " +
		"remembered in the database with its run, by bucket, key, event, version (else sequencer, else ETag) and time, so a " +
		"notification sent again starts nothing twice. With queue_url, the runs come from an SQS queue instead (S3 → SQS, or " +
		"S3 → SNS → SQS): one server long-polls it with the connection's credentials, and deletes a message once its runs are " +
		"queued; the events URL is then closed. On the local connection no set-up is needed: the local endpoint sends its events " +
		"(writes, copies, multipart uploads, removals) to the running server of the same S3FLOW_HOME. See docs/server.md.",
	Payload: []PayloadField{
		{Name: "key", Type: module.String, Help: "the object's key, decoded", Example: "incoming/example.csv"},
		{Name: "bucket", Type: module.String, Help: "its bucket", Example: "reports"},
		{Name: "eventName", Type: module.String, Help: "what happened, without the s3: prefix some stores add", Example: "ObjectCreated:Put"},
		{Name: "size", Type: module.Int, Help: "its size in bytes (0 when the event gives none, as for removals)", Example: int64(1024)},
		{Name: "etag", Type: module.String, Help: "its ETag as the store sent it (empty when none)", Example: "9a0364b9e99bb480dd25e1f0284c8555"},
		{Name: "versionId", Type: module.String, Help: "its version id (empty in a bucket without versioning)", Example: "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},
		{Name: "sequencer", Type: module.String, Help: "the store's order of events on this key (empty when none)", Example: "0055AED6DCD90281E5"},
		{Name: "eventTime", Type: module.Time, Help: "when the store says it happened", Example: "2026-12-01T06:00:00Z"},
		{Name: "record", Type: module.Any, Help: "the whole record as sent (its key as the store wrote it)", Example: map[string]any{"eventName": "ObjectCreated:Put"}},
	},
	Fields: []Field{
		{Name: "connection", Type: Connection, Required: true, Help: "the connection to the store that sends the events", Example: "prod"},
		{Name: "bucket", Type: Text, Required: true, Help: "the bucket whose events start runs", Example: "reports"},
		{Name: "prefix", Type: Text, Default: "", Help: "only keys that start with this", Example: "incoming/"},
		{Name: "suffix", Type: Text, Default: "", Help: "only keys that end with this", Example: ".csv"},
		{Name: "events", Type: Words, Choices: s3EventWords(), Default: []string{"created"}, Help: "which events start runs", Example: "[created, removed]"},
		{Name: "key_encoding", Type: Choice, Choices: []string{"url", "none"}, Default: "url", Help: "how the store writes keys in its events: " +
			"url-encoded as AWS, MinIO and Ceph do (+ for a space), or as they are (none: versitygw 1.8)", Example: "none"},
		{Name: "secret_env", Type: EnvName, Help: "the environment variable holding the bearer secret senders may give (Authorization: Bearer); without it, only the URL token is taken (not with queue_url)", Example: "REPORTS_EVENTS_SECRET"},
		{Name: "queue_url", Type: URL, Help: "read the notifications from this SQS queue (S3 → SQS or S3 → SNS → SQS) with the connection's credentials, instead of taking them at /events/{flow}", Example: "https://sqs.us-east-1.amazonaws.com/123456789012/reports-events"},
		{Name: "queue_protocol", Type: Choice, Choices: []string{string(s3client.QueueJSON), string(s3client.QueueQuery)}, Default: string(s3client.QueueJSON),
			Help: "how to speak to the queue: AWS JSON as SQS does today, or the older query protocol for stand-ins that speak only that (goaws 0.4)", Example: "query"},
	},
	Decode: func(v Values) (Config, error) {
		ev := &S3Event{Connection: v.String("connection"), Bucket: v.String("bucket"), Prefix: v.String("prefix"),
			Suffix: v.String("suffix"), Events: v.Strings("events"), KeysEncoded: v.String("key_encoding") != "none", SecretEnv: v.String("secret_env")}
		if !v.Has("queue_url") {
			return ev, nil
		}
		// The queue is read with the connection's credentials: no sender
		// authenticates, so a secret would be a promise not kept.
		if ev.SecretEnv != "" {
			return nil, fieldErrorf("secret_env", "not used with queue_url: the queue is read with the connection's credentials, and the events URL is closed")
		}
		if ev.Connection == connection.LocalName {
			return nil, fieldErrorf("connection", "the local endpoint has no SQS queues: name a connection with the queue's credentials")
		}
		return &S3EventQueue{S3Event: ev, QueueURL: v.String("queue_url"), Protocol: s3client.QueueProtocol(v.String("queue_protocol"))}, nil
	},
}

// s3EventCategories maps the words of events: to the event types they
// cover, the part of an event name before its colon.
// s3Type is the S3 event type a notification configuration names for the
// word (what 's3flow trigger setup' writes).
var s3EventCategories = []struct{ word, category, s3Type string }{
	{"created", "ObjectCreated", "s3:ObjectCreated:*"},
	{"removed", "ObjectRemoved", "s3:ObjectRemoved:*"},
	{"restored", "ObjectRestore", "s3:ObjectRestore:*"},
	{"tagged", "ObjectTagging", "s3:ObjectTagging:*"},
	{"acl", "ObjectAcl", "s3:ObjectAcl:Put"},
	{"expired", "LifecycleExpiration", "s3:LifecycleExpiration:*"},
	{"transitioned", "LifecycleTransition", "s3:LifecycleTransition"},
	{"replicated", "Replication", "s3:Replication:*"},
}

func s3EventWords() []string {
	words := make([]string, len(s3EventCategories))
	for i, c := range s3EventCategories {
		words[i] = c.word
	}
	return words
}

// S3Event is a checked s3_event trigger. The server takes the requests
// and authenticates them; ParseS3Notification reads a body and Receive
// starts the runs.
type S3Event struct {
	Connection, Bucket, Prefix, Suffix string
	// Events are words of s3EventCategories.
	Events []string
	// KeysEncoded says the store URL-encodes keys (key_encoding: url).
	KeysEncoded bool
	// SecretEnv names the variable with the bearer secret ("" for none).
	SecretEnv string
}

func (e *S3Event) Describe() string {
	return fmt.Sprintf("S3 events %s on %s/%s*%s (connection %s)", strings.Join(e.Events, ", "), e.Bucket, e.Prefix, e.Suffix, e.Connection)
}

// adjustSample puts the sample object in the trigger's bucket and under
// its prefix and suffix.
func (e *S3Event) adjustSample(sample map[string]any) {
	sample["bucket"] = e.Bucket
	sample["key"] = e.Prefix + "example" + e.Suffix
}

// S3Notification is a decoded notification body: records, AWS's test
// event, or an SNS subscription message.
type S3Notification struct {
	// Test is AWS's s3:TestEvent (versitygw sends one when it starts):
	// nothing to start.
	Test bool
	// SNSType is SubscriptionConfirmation or UnsubscribeConfirmation for
	// SNS's messages about the subscription, with its SubscribeURL (as
	// sent: hostile until checked).
	SNSType, SubscribeURL string
	Records               []S3Record
}

// S3Record is one record of a notification, checked.
type S3Record struct {
	Bucket, Key, EventName, ETag, VersionID, Sequencer, EventTime string
	Size                                                          int64
	// Raw is the record as sent.
	Raw map[string]any
	// identity names the event for deduplication.
	identity string
}

// NotificationError is a body that is not a notification s3_event reads:
// the sender's mistake (HTTP 400).
type NotificationError struct{ Msg string }

func (e *NotificationError) Error() string { return e.Msg }

func notificationErrorf(format string, args ...any) error {
	return &NotificationError{Msg: fmt.Sprintf(format, args...)}
}

// Bounds on what a record may hold, so that hostile input cannot make the
// seen table's rows (or the runs' trigger data) arbitrarily large. S3
// keys are at most 1,024 bytes.
const (
	maxS3Key   = 1024
	maxS3Field = 1024
)

// notificationJSON is what is read of a body: S3's notification
// (Records), its test event (Event) or an SNS message (Type, Message,
// SubscribeURL).
type notificationJSON struct {
	Records      []json.RawMessage `json:"Records"`
	Event        string            `json:"Event"`
	Type         string            `json:"Type"`
	Message      *string           `json:"Message"`
	SubscribeURL string            `json:"SubscribeURL"`
	// Source and Detail are EventBridge's (source aws.s3).
	Source string          `json:"source"`
	Detail json.RawMessage `json:"detail"`
}

// eventBridgeJSON is an S3 event as EventBridge delivers it (to an API
// destination, or to a queue): one object per body, its key as it is
// (not URL-encoded), its kind in words (detail-type).
type eventBridgeJSON struct {
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
	Detail     struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"etag"`
			VersionID string `json:"version-id"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
		Reason       string `json:"reason"`
		DeletionType string `json:"deletion-type"`
	} `json:"detail"`
}

// eventBridgeNames are the event names of S3's notifications for
// EventBridge's detail-types, so that events: and trigger.eventName mean
// the same whichever way an event came.
var eventBridgeNames = map[string]string{
	"Object Created":               "ObjectCreated:",
	"Object Deleted":               "ObjectRemoved:",
	"Object Restore Initiated":     "ObjectRestore:Post",
	"Object Restore Completed":     "ObjectRestore:Completed",
	"Object Restore Expired":       "ObjectRestore:Delete",
	"Object Tags Added":            "ObjectTagging:Put",
	"Object Tags Deleted":          "ObjectTagging:Delete",
	"Object ACL Updated":           "ObjectAcl:Put",
	"Object Storage Class Changed": "LifecycleTransition",
	"Object Access Tier Changed":   "IntelligentTiering",
}

// fromEventBridge reads an EventBridge S3 event as the record S3's own
// notification would carry.
func fromEventBridge(body []byte) (S3Record, error) {
	var ev eventBridgeJSON
	if err := json.Unmarshal(body, &ev); err != nil {
		return S3Record{}, fmt.Errorf("detail: %v", err)
	}
	name, ok := eventBridgeNames[ev.DetailType]
	if !ok {
		return S3Record{}, fmt.Errorf("detail-type: %q is not an S3 object event", ev.DetailType)
	}
	d := ev.Detail
	switch {
	case name == "ObjectCreated:":
		// reason is the request: PutObject, CopyObject, ...
		name += strings.TrimSuffix(d.Reason, "Object")
	case name == "ObjectRemoved:" && d.Reason == "Lifecycle Expiration":
		name = "LifecycleExpiration:Delete"
	case name == "ObjectRemoved:" && d.DeletionType == "Delete Marker Created":
		name += "DeleteMarkerCreated"
	case name == "ObjectRemoved:":
		name += "Delete"
	}
	raw, err := json.Marshal(map[string]any{"eventSource": "aws:s3", "eventName": name, "eventTime": ev.Time,
		"s3": map[string]any{"bucket": map[string]any{"name": d.Bucket.Name},
			"object": map[string]any{"key": d.Object.Key, "size": d.Object.Size, "eTag": d.Object.ETag,
				"versionId": d.Object.VersionID, "sequencer": d.Object.Sequencer}}})
	if err != nil {
		return S3Record{}, err
	}
	rec, err := parseRecord(raw, false)
	if err != nil {
		// The record's paths, as EventBridge names them.
		msg := strings.NewReplacer("s3.object.eTag", "detail.object.etag", "s3.object.versionId", "detail.object.version-id",
			"s3.object.", "detail.object.", "s3.bucket.", "detail.bucket.", "eventTime", "time", "eventName", "detail-type").Replace(err.Error())
		return S3Record{}, errors.New(msg)
	}
	return rec, nil
}

type recordJSON struct {
	EventName string `json:"eventName"`
	EventTime string `json:"eventTime"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"eTag"`
			VersionID string `json:"versionId"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

// Parse reads a notification body sent for the trigger: S3's JSON
// (Records[]), the same as the Message of an SNS Notification, S3's
// s3:TestEvent, or an SNS subscription message. Keys are decoded as
// key_encoding says. A problem is a *NotificationError that names the
// record and the field.
func (e *S3Event) Parse(body []byte) (*S3Notification, error) {
	return parseNotification(body, e.KeysEncoded, true)
}

func parseNotification(body []byte, keysEncoded, envelope bool) (*S3Notification, error) {
	var n notificationJSON
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, notificationErrorf("the body must be a JSON object: an S3 event notification (Records) or an SNS message: %v", err)
	}
	switch {
	case n.Type == "Notification" && n.Message != nil && envelope:
		// The S3 notification is the SNS message's text.
		inner, err := parseNotification([]byte(*n.Message), keysEncoded, false)
		if err != nil {
			return nil, notificationErrorf("the SNS Message: %v", err)
		}
		return inner, nil
	case (n.Type == "SubscriptionConfirmation" || n.Type == "UnsubscribeConfirmation") && envelope:
		return &S3Notification{SNSType: n.Type, SubscribeURL: n.SubscribeURL}, nil
	case n.Event == "s3:TestEvent":
		return &S3Notification{Test: true}, nil
	case n.Records == nil && n.Source == "aws.s3" && n.Detail != nil:
		rec, err := fromEventBridge(body)
		if err != nil {
			return nil, notificationErrorf("the EventBridge event's %v", err)
		}
		return &S3Notification{Records: []S3Record{rec}}, nil
	case n.Records == nil:
		return nil, notificationErrorf("the body has no Records: it is not an S3 event notification (nor an SNS Notification carrying one)")
	}
	out := &S3Notification{Records: make([]S3Record, 0, len(n.Records))}
	for i, raw := range n.Records {
		rec, err := parseRecord(raw, keysEncoded)
		if err != nil {
			return nil, notificationErrorf("Records[%d].%v", i, err)
		}
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

// parseRecord checks one record; its errors start with the field's path.
func parseRecord(raw json.RawMessage, keyEncoded bool) (S3Record, error) {
	var r recordJSON
	if err := json.Unmarshal(raw, &r); err != nil {
		return S3Record{}, fmt.Errorf("s3: not a record of an S3 event notification: %v", err)
	}
	o := r.S3.Object
	for _, f := range []struct{ path, v string }{
		{"eventName", r.EventName}, {"s3.bucket.name", r.S3.Bucket.Name}, {"s3.object.key", o.Key}, {"eventTime", r.EventTime},
	} {
		if f.v == "" {
			return S3Record{}, fmt.Errorf("%s: missing", f.path)
		}
	}
	for _, f := range []struct{ path, v string }{
		{"eventName", r.EventName}, {"eventTime", r.EventTime}, {"s3.bucket.name", r.S3.Bucket.Name},
		{"s3.object.eTag", o.ETag}, {"s3.object.versionId", o.VersionID}, {"s3.object.sequencer", o.Sequencer},
	} {
		if len(f.v) > maxS3Field {
			return S3Record{}, fmt.Errorf("%s: longer than %d bytes", f.path, maxS3Field)
		}
	}
	// S3 encodes keys as a form does: + for a space, %XX for the rest.
	key := o.Key
	if keyEncoded {
		var err error
		if key, err = url.QueryUnescape(o.Key); err != nil {
			return S3Record{}, fmt.Errorf("s3.object.key: not URL-encoded (if the store sends keys as they are, set key_encoding: none): %v", err)
		}
	}
	if len(key) > maxS3Key {
		return S3Record{}, fmt.Errorf("s3.object.key: longer than %d bytes", maxS3Key)
	}
	// S3 keys are UTF-8. A NUL, or an invalid byte, would be refused by
	// PostgreSQL (text and jsonb) further on, as a server error.
	if !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return S3Record{}, fmt.Errorf("s3.object.key: not a key (not UTF-8, or holds a NUL character)")
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return S3Record{}, fmt.Errorf("s3: holds a NUL character (\\u0000), which no S3 event record has")
	}
	t, err := time.Parse(time.RFC3339Nano, r.EventTime)
	if err != nil {
		return S3Record{}, fmt.Errorf("eventTime: want an RFC 3339 time such as 2026-12-01T06:00:00.000Z, got %q", r.EventTime)
	}
	if o.Size < 0 {
		return S3Record{}, fmt.Errorf("s3.object.size: negative")
	}
	var whole map[string]any
	if err := json.Unmarshal(raw, &whole); err != nil {
		return S3Record{}, fmt.Errorf("s3: %v", err)
	}
	rec := S3Record{Bucket: r.S3.Bucket.Name, Key: key, EventName: strings.TrimPrefix(r.EventName, "s3:"),
		ETag: o.ETag, VersionID: o.VersionID, Sequencer: o.Sequencer, Size: o.Size,
		EventTime: t.UTC().Format(time.RFC3339Nano), Raw: whole}
	if rec.VersionID == "null" { // a bucket without versioning, as some stores say it
		rec.VersionID = ""
	}
	rec.identity = rec.identify(raw)
	return rec, nil
}

// identify names the event a record reports: its event name and time, and
// the object's version, else the sequencer, else its ETag (else the
// record's bytes). The time is part of it because a sequencer need not
// survive the store's restart (versitygw counts from 1 again), and a
// notification sent again carries its first time.
func (r S3Record) identify(raw []byte) string {
	marker := "v:" + r.VersionID
	switch {
	case r.VersionID != "":
	case r.Sequencer != "":
		marker = "s:" + r.Sequencer
	case r.ETag != "":
		marker = "e:" + r.ETag
	default:
		sum := sha256.Sum256(raw)
		marker = "r:" + hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256([]byte(r.EventName + "\x00" + r.EventTime + "\x00" + marker))
	return hex.EncodeToString(sum[:])
}

// Matches reports whether a record is of the trigger's bucket, keys and
// events.
func (e *S3Event) Matches(r S3Record) bool {
	if r.Bucket != e.Bucket || !strings.HasPrefix(r.Key, e.Prefix) || !strings.HasSuffix(r.Key, e.Suffix) {
		return false
	}
	category, _, _ := strings.Cut(r.EventName, ":")
	for _, c := range s3EventCategories {
		if c.category == category {
			for _, w := range e.Events {
				if w == c.word {
					return true
				}
			}
		}
	}
	return false
}

// S3Receipt says what became of a notification's records.
type S3Receipt struct {
	// Runs are the runs started, one per new record.
	Runs []string `json:"runs"`
	// Duplicates were received before; Ignored are outside the trigger's
	// bucket, prefix, suffix or events.
	Duplicates int `json:"duplicates"`
	Ignored    int `json:"ignored"`
}

// ErrFlowDisabled is a notification for a flow that is switched off: it
// starts and records nothing, so the sender may deliver it again later.
var ErrFlowDisabled = errors.New("the flow is disabled")

// Receive starts one run of flow per record that matches and was not
// received before. In one transaction each record is recorded as seen
// (by flow, bucket, key and identity) and its run queued: a notification
// sent again, even to another server sharing the database, finds its
// records seen and starts nothing, and a failure leaves nothing half done.
func (e *S3Event) Receive(ctx context.Context, h Host, flow string, records []S3Record) (S3Receipt, error) {
	receipt := S3Receipt{Runs: []string{}}
	var todo []S3Record
	for _, r := range records {
		if e.Matches(r) {
			todo = append(todo, r)
		} else {
			receipt.Ignored++
		}
	}
	if len(todo) == 0 {
		return receipt, nil
	}
	tx, err := h.DB().BeginTx(ctx, nil)
	if err != nil {
		return S3Receipt{}, fmt.Errorf("record the S3 events: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().Unix()
	var keys []string // of the runs started, for the log
	for _, r := range todo {
		res, err := tx.ExecContext(ctx, `INSERT INTO s3_event_seen (flow, bucket, key, event, seen_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (flow, bucket, key, event) DO NOTHING`, flow, r.Bucket, r.Key, r.identity, now)
		if err != nil {
			return S3Receipt{}, fmt.Errorf("record the S3 event on %q: %w", r.Key, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return S3Receipt{}, fmt.Errorf("record the S3 event on %q: %w", r.Key, err)
		} else if n == 0 {
			receipt.Duplicates++
			continue
		}
		id, err := h.Fire(ctx, tx, flow, r.payload())
		if err != nil {
			return S3Receipt{}, fmt.Errorf("queue a run for %q: %w", r.Key, err)
		}
		if id == "" {
			return S3Receipt{}, ErrFlowDisabled
		}
		receipt.Runs = append(receipt.Runs, id)
		keys = append(keys, r.Key)
	}
	if err := tx.Commit(); err != nil {
		return S3Receipt{}, fmt.Errorf("record the S3 events: %w", err)
	}
	for i, id := range receipt.Runs {
		h.Logger().Info("s3_event queued a run", "flow", flow, "run", id, "key", keys[i])
	}
	pruneSeen(ctx, h, time.Now())
	return receipt, nil
}

// S3EventSeenKept is how long a received record is remembered: longer
// than any sender delivers a notification again (S3 and SNS retry for
// hours, an SQS queue keeps a message at most 14 days).
const S3EventSeenKept = 30 * 24 * time.Hour

// seenPruned is when this process last pruned s3_event_seen (Unix
// seconds): at most once a minute.
var seenPruned atomic.Int64

// pruneSeen forgets the records received longer ago than S3EventSeenKept.
// A failure is logged: the next prune tries again.
func pruneSeen(ctx context.Context, h Host, now time.Time) {
	last := seenPruned.Load()
	if now.Unix()-last < 60 || !seenPruned.CompareAndSwap(last, now.Unix()) {
		return
	}
	if _, err := h.DB().ExecContext(ctx, `DELETE FROM s3_event_seen WHERE seen_at < ?`, now.Add(-S3EventSeenKept).Unix()); err != nil {
		h.Logger().Warn("prune the S3 events received", "error", err)
	}
}

// payload is the record as trigger.* (see the kind's Payload).
func (r S3Record) payload() map[string]any {
	return map[string]any{"type": "s3_event", "key": r.Key, "bucket": r.Bucket, "eventName": r.EventName, "size": r.Size,
		"etag": r.ETag, "versionId": r.VersionID, "sequencer": r.Sequencer, "eventTime": r.EventTime, "record": r.Raw}
}
