package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/versity/versitygw/backend"
	"github.com/versity/versitygw/s3response"

	"github.com/s3flow/s3flow/internal/locals3"
)

// The local endpoint tells a running s3flow server of its home what it
// wrote and removed, as S3 tells its subscribers: AWS-shaped Records,
// POSTed to the server named in locals3.EventsFile. The backend is
// wrapped, so an event is made only for a change the backend made; the
// sending is another goroutine's, so a request never waits for it, nor
// fails for it. With no server running, the events are dropped: nothing
// waits for them.

const (
	// eventQueueSize bounds the events waiting to be sent; more are
	// dropped (the server has its other triggers for catching up).
	eventQueueSize = 10000
	// eventBatch bounds the records of one POST.
	eventBatch = 100
	// eventAttempts are the tries of one POST, eventBackoff the wait
	// before the second (four times longer before each next).
	eventAttempts = 4
	eventBackoff  = 100 * time.Millisecond
	// eventDrain is how long the events still queued when the endpoint
	// stops may take to send: a command's temporary endpoint stops right
	// after its last write, and its events are still worth having.
	eventDrain = 3 * time.Second
)

// objectEvent is one change, before it is sent.
type objectEvent struct {
	name, bucket, key, etag, versionID, sequencer string
	size                                          int64
	// sizeUnknown: ask the backend before sending (copies, multipart).
	sizeUnknown bool
	at          time.Time
}

// notifier queues the events and sends them to the server.
type notifier struct {
	file   string
	region string
	be     backend.Backend
	client *http.Client
	log    io.Writer

	// mu orders the sequencers and the queue alike.
	mu      sync.Mutex
	lastSeq uint64
	queue   chan objectEvent

	stop     chan struct{}
	finished chan struct{}
	// failed says a failure was logged: it is said once, until a send
	// works again.
	failed bool
}

func newNotifier(file, region string, be backend.Backend, log io.Writer) *notifier {
	return &notifier{
		file: file, region: region, be: be, log: log,
		client: &http.Client{
			Timeout: 10 * time.Second,
			// The file names the server itself: follow nothing else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// The proxy variables are for the network beyond this
			// machine; the server is on it.
			Transport: &http.Transport{Proxy: nil, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second},
		},
		queue: make(chan objectEvent, eventQueueSize),
		stop:  make(chan struct{}), finished: make(chan struct{}),
	}
}

// add queues ev with the next sequencer; it never waits. Sequencers grow
// across the endpoint's restarts too (they start from the clock), since
// the server tells an event from one sent again by its sequencer.
func (n *notifier) add(ev objectEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev.at = time.Now().UTC()
	n.lastSeq = max(n.lastSeq+1, uint64(ev.at.UnixNano()))
	ev.sequencer = fmt.Sprintf("%016X", n.lastSeq)
	select {
	case n.queue <- ev:
	default:
	}
}

// run sends the queued events until close; then it sends what is left,
// for eventDrain at most.
func (n *notifier) run() {
	defer close(n.finished)
	for {
		select {
		case ev := <-n.queue:
			n.send(context.Background(), n.batch(ev))
		case <-n.stop:
			ctx, cancel := context.WithTimeout(context.Background(), eventDrain)
			defer cancel()
			for {
				select {
				case ev := <-n.queue:
					n.send(ctx, n.batch(ev))
				default:
					return
				}
			}
		}
	}
}

// close stops run once it has sent what is queued (or eventDrain is up).
func (n *notifier) close() {
	close(n.stop)
	<-n.finished
}

// batch is first and the events queued behind it, up to eventBatch.
func (n *notifier) batch(first objectEvent) []objectEvent {
	evs := []objectEvent{first}
	for len(evs) < eventBatch {
		select {
		case ev := <-n.queue:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// send posts evs to the server of the events file, with retries. No
// server, nothing sent, nothing said.
func (n *notifier) send(ctx context.Context, evs []objectEvent) {
	if _, err := locals3.ReadEventsListener(n.file); errors.Is(err, locals3.ErrNoEventsListener) {
		return
	}
	body, err := json.Marshal(map[string]any{"Records": n.records(ctx, evs)})
	if err != nil {
		return
	}
	delay := eventBackoff
	for attempt := 1; ; attempt++ {
		// Read again each time: a server that restarted has another
		// port and secret.
		l, err := locals3.ReadEventsListener(n.file)
		if errors.Is(err, locals3.ErrNoEventsListener) {
			return
		}
		if err == nil {
			var retry bool
			if retry, err = n.post(ctx, l, body); err == nil {
				n.failed = false
				return
			} else if !retry {
				attempt = eventAttempts
			}
		}
		if attempt >= eventAttempts || ctx.Err() != nil {
			if !n.failed {
				// The error names the URL, never the secret.
				fmt.Fprintf(n.log, "%s: %d S3 events not sent to the s3flow server: %v\n", locals3.HelperName, len(evs), err)
				n.failed = true
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay *= 4
	}
}

// post sends one body; retry says whether another try may do better.
func (n *notifier) post(ctx context.Context, l locals3.EventsListener, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL+locals3.EventsPath, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+l.Secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("%s answered %s", l.URL, resp.Status)
	default:
		return false, fmt.Errorf("%s answered %s", l.URL, resp.Status)
	}
}

// records are evs as S3 writes them: keys URL-encoded (+ for a space,
// the slashes kept), ETags without their quotes.
func (n *notifier) records(ctx context.Context, evs []objectEvent) []map[string]any {
	out := make([]map[string]any, 0, len(evs))
	for _, ev := range evs {
		if ev.sizeUnknown {
			if head, err := n.be.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &ev.bucket, Key: &ev.key}); err == nil && head.ContentLength != nil {
				ev.size = *head.ContentLength
			}
		}
		object := map[string]any{"key": encodeKey(ev.key), "size": ev.size, "sequencer": ev.sequencer}
		if etag := strings.Trim(ev.etag, `"`); etag != "" {
			object["eTag"] = etag
		}
		if ev.versionID != "" {
			object["versionId"] = ev.versionID
		}
		out = append(out, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": n.region,
			"eventTime":    ev.at.Format("2006-01-02T15:04:05.000Z"),
			"eventName":    ev.name,
			"userIdentity": map[string]string{"principalId": locals3.HelperName},
			"s3": map[string]any{
				"s3SchemaVersion": "1.0", "configurationId": locals3.HelperName,
				"bucket": map[string]any{"name": ev.bucket, "arn": "arn:aws:s3:::" + ev.bucket},
				"object": object,
			},
		})
	}
	return out
}

// encodeKey writes a key as S3's event notifications do.
func encodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// notifyingBackend is the backend that tells the notifier of each change
// it made.
type notifyingBackend struct {
	backend.Backend
	n *notifier
}

func (b notifyingBackend) PutObject(ctx context.Context, in s3response.PutObjectInput) (s3response.PutObjectOutput, error) {
	out, err := b.Backend.PutObject(ctx, in)
	if err == nil {
		size := aws.ToInt64(in.ContentLength)
		if out.Size != nil {
			size = *out.Size
		}
		b.n.add(objectEvent{name: "ObjectCreated:Put", bucket: aws.ToString(in.Bucket), key: aws.ToString(in.Key),
			etag: out.ETag, versionID: out.VersionID, size: size})
	}
	return out, err
}

func (b notifyingBackend) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput) (s3response.CompleteMultipartUploadResult, string, error) {
	out, versionID, err := b.Backend.CompleteMultipartUpload(ctx, in)
	if err == nil {
		b.n.add(objectEvent{name: "ObjectCreated:CompleteMultipartUpload", bucket: aws.ToString(in.Bucket), key: aws.ToString(in.Key),
			etag: aws.ToString(out.ETag), versionID: versionID, sizeUnknown: true})
	}
	return out, versionID, err
}

func (b notifyingBackend) CopyObject(ctx context.Context, in s3response.CopyObjectInput) (s3response.CopyObjectOutput, error) {
	out, err := b.Backend.CopyObject(ctx, in)
	if err == nil {
		ev := objectEvent{name: "ObjectCreated:Copy", bucket: aws.ToString(in.Bucket), key: aws.ToString(in.Key),
			versionID: aws.ToString(out.VersionId), sizeUnknown: true}
		if out.CopyObjectResult != nil {
			ev.etag = aws.ToString(out.CopyObjectResult.ETag)
		}
		b.n.add(ev)
	}
	return out, err
}

func (b notifyingBackend) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput) (*s3.DeleteObjectOutput, error) {
	out, err := b.Backend.DeleteObject(ctx, in)
	if err == nil {
		ev := objectEvent{name: "ObjectRemoved:Delete", bucket: aws.ToString(in.Bucket), key: aws.ToString(in.Key), versionID: aws.ToString(in.VersionId)}
		if out != nil && aws.ToBool(out.DeleteMarker) && in.VersionId == nil {
			ev.name, ev.versionID = "ObjectRemoved:DeleteMarkerCreated", aws.ToString(out.VersionId)
		}
		b.n.add(ev)
	}
	return out, err
}

func (b notifyingBackend) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput) (s3response.DeleteResult, error) {
	out, err := b.Backend.DeleteObjects(ctx, in)
	if err == nil {
		for _, d := range out.Deleted {
			ev := objectEvent{name: "ObjectRemoved:Delete", bucket: aws.ToString(in.Bucket), key: aws.ToString(d.Key), versionID: aws.ToString(d.VersionId)}
			if aws.ToBool(d.DeleteMarker) && d.VersionId == nil {
				ev.name, ev.versionID = "ObjectRemoved:DeleteMarkerCreated", aws.ToString(d.DeleteMarkerVersionId)
			}
			b.n.add(ev)
		}
	}
	return out, err
}
