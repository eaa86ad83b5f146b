package s3client

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/s3flow/s3flow/internal/connection"
)

// Queue reads one SQS queue (where S3 sends its event notifications) with
// a connection's credentials, through the same guarded HTTP client, request
// log and retries as its S3 requests.
type Queue struct {
	url    string
	client *sqs.Client
}

// QueueMessage is one message received, as sent: hostile until parsed.
type QueueMessage struct {
	ID, ReceiptHandle, Body string
}

// QueueProtocol is how requests to the queue are written: AWS JSON (what
// SQS answers today, and the SDK's default) or the older query protocol,
// which SQS still takes and some stand-ins (goaws 0.4) alone speak.
type QueueProtocol string

const (
	QueueJSON  QueueProtocol = "json"
	QueueQuery QueueProtocol = "query"
)

// awsQueueHost is the host of an SQS endpoint, with its region.
var awsQueueHost = regexp.MustCompile(`^sqs\.([a-z0-9-]{1,32})\.amazonaws\.com(\.cn)?$`)

// NewQueue builds a client of the queue at queueURL (http or https). The
// requests go to the queue URL's host, signed with conn's credentials for
// the region in an AWS queue's host (sqs.REGION.amazonaws.com), else the
// connection's; every address dialled passes the connection's netguard
// policy (a queue on a private address needs a connection that allows
// private addresses, as an endpoint does).
func NewQueue(ctx context.Context, conn connection.Connection, queueURL string, protocol QueueProtocol, opts Options) (*Queue, error) {
	u, err := url.Parse(queueURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("queue URL %q: want an http or https URL such as https://sqs.us-east-1.amazonaws.com/123456789012/events", queueURL)
	}
	if conn.Kind == connection.KindLocal {
		return nil, fmt.Errorf("connection %q: the local endpoint has no SQS queues; use a connection with the queue's credentials", conn.Name)
	}
	region := ""
	if m := awsQueueHost.FindStringSubmatch(u.Hostname()); m != nil {
		region = m[1]
	}
	// The S3 endpoint is not the queue's: the client is built without it,
	// and its requests go to the queue URL's host. A role is still assumed
	// where the connection says.
	conn.Source.STSEndpoint = conn.STSEndpoint()
	conn.Endpoint = ""
	c, err := New(ctx, conn, region, opts)
	if err != nil {
		return nil, err
	}
	endpoint := u.Scheme + "://" + u.Host
	client := sqs.NewFromConfig(c.Config(), func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		if protocol == QueueQuery {
			o.Protocol = awsquery.New(schemas.AmazonSQS)
		}
	})
	return &Queue{url: queueURL, client: client}, nil
}

// Receive long-polls the queue for up to wait (at most 20 seconds, SQS's
// limit) and returns up to max messages (at most 10).
func (q *Queue) Receive(ctx context.Context, wait time.Duration, max int32) ([]QueueMessage, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.url),
		MaxNumberOfMessages: max,
		WaitTimeSeconds:     int32(wait / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("receive from queue %s: %w", q.url, err)
	}
	msgs := make([]QueueMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, QueueMessage{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body)})
	}
	return msgs, nil
}

// Delete removes a received message from the queue.
func (q *Queue) Delete(ctx context.Context, m QueueMessage) error {
	if _, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.ReceiptHandle)}); err != nil {
		return fmt.Errorf("delete message %s from queue %s: %w", m.ID, q.url, err)
	}
	return nil
}
