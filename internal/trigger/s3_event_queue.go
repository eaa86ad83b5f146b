package trigger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3flow/s3flow/internal/s3client"
)

// S3EventQueue is an s3_event trigger with queue_url: its notifications
// come from an SQS queue, which it long-polls while the server runs
// triggers (on PostgreSQL, only the server holding the trigger lock, so
// one poller per queue). Records are filtered and deduplicated as the
// webhook's are (S3Event.Receive).
type S3EventQueue struct {
	*S3Event
	QueueURL string
	Protocol s3client.QueueProtocol
}

func (q *S3EventQueue) Describe() string {
	return q.S3Event.Describe() + " from queue " + q.QueueURL
}

// What one receive asks of SQS: its longest wait and most messages.
const (
	queueWait  = 20 * time.Second
	queueBatch = 10
)

// Backoff after a failure (receiving, or queueing a message's runs):
// doubled at each failure in a row, up to the cap, and reset by a
// receive that went well.
var (
	queueBackoffFirst = time.Second
	queueBackoffMax   = 2 * time.Minute
)

// Run long-polls the queue until ctx ends.
func (q *S3EventQueue) Run(ctx context.Context, h Host, flow string) {
	h.Logger().Info("s3_event: reading the queue", "flow", flow, "queue", q.QueueURL, "bucket", q.Bucket)
	var queue *s3client.Queue
	backoff := time.Duration(0)
	fail := func(msg string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		backoff = min(max(2*backoff, queueBackoffFirst), queueBackoffMax)
		h.Logger().Error("s3_event: "+msg, "flow", flow, "queue", q.QueueURL, "error", err, "retry_in", backoff)
		return sleep(ctx, backoff)
	}
	for ctx.Err() == nil {
		if queue == nil {
			var err error
			if queue, err = q.open(ctx, h); err != nil {
				if !fail("open the queue", err) {
					return
				}
				continue
			}
		}
		msgs, err := queue.Receive(ctx, queueWait, queueBatch)
		if err != nil {
			// Built again next time: the connection may have changed.
			queue = nil
			if !fail("receive from the queue", err) {
				return
			}
			continue
		}
		var failed error
		for _, m := range msgs {
			if err := q.handle(ctx, h, flow, queue, m); err != nil {
				failed = err
			}
		}
		if failed != nil {
			if !fail("a message stays in the queue", failed) {
				return
			}
			continue
		}
		backoff = 0
	}
}

func (q *S3EventQueue) open(ctx context.Context, h Host) (*s3client.Queue, error) {
	conn, err := h.Connection(ctx, q.Connection)
	if err != nil {
		return nil, err
	}
	return s3client.NewQueue(ctx, conn, q.QueueURL, q.Protocol, s3client.Options{Logger: h.Logger()})
}

// handle takes one message: its matching new records' runs are queued in
// one transaction, and only once that committed is the message deleted.
// A message that is not a notification is logged (its id and the problem,
// never its body) and left for the queue's redrive policy; AWS's test
// event is deleted. An error leaves the message in the queue, to come
// back after its visibility timeout (its records, if queued meanwhile,
// are then found seen).
func (q *S3EventQueue) handle(ctx context.Context, h Host, flow string, queue *s3client.Queue, m s3client.QueueMessage) error {
	n, err := parseNotification([]byte(m.Body), q.KeysEncoded, true)
	if err != nil {
		h.Logger().Warn("s3_event: a queue message is not an S3 event notification; it is left for the queue's redrive policy",
			"flow", flow, "queue", q.QueueURL, "message", m.ID, "problem", err)
		return nil
	}
	switch {
	case n.Test:
		h.Logger().Info("s3_event: the queue's test event received", "flow", flow, "queue", q.QueueURL, "message", m.ID)
	case n.SNSType != "":
		// A cross-account SNS subscription asks to be confirmed through the
		// queue; s3flow fetches no URL it is sent (see the webhook's SNS
		// handling), nor logs one read from a queue anyone may send to.
		h.Logger().Warn("s3_event: an SNS subscription message was read from the queue and deleted; confirm the subscription with 'aws sns confirm-subscription'",
			"flow", flow, "queue", q.QueueURL, "message", m.ID, "type", n.SNSType)
	default:
		receipt, err := q.Receive(ctx, h, flow, n.Records)
		if errors.Is(err, ErrFlowDisabled) {
			return fmt.Errorf("message %s: %w; it comes back when its visibility timeout ends", m.ID, err)
		}
		if err != nil {
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		h.Logger().Debug("s3_event: queue message taken", "flow", flow, "message", m.ID, "runs", len(receipt.Runs),
			"duplicates", receipt.Duplicates, "ignored", receipt.Ignored)
	}
	return queue.Delete(ctx, m)
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
