package s3client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// errNotSent ends a request that recordBody kept instead of sending.
var errNotSent = errors.New("request recorded, not sent")

// recordBody is an HTTP client that keeps the body of the request it is
// given and sends nothing.
type recordBody struct{ body []byte }

func (r *recordBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		r.body = b
	}
	return nil, errNotSent
}

// NotificationBody is the XML the SDK would send for in (a
// PutBucketNotificationConfiguration), built, checked and signed as for
// sending, with nothing sent: what --dry-run shows.
func (c *Client) NotificationBody(ctx context.Context, in *s3.PutBucketNotificationConfigurationInput) ([]byte, error) {
	rec := &recordBody{}
	_, err := c.S3("").PutBucketNotificationConfiguration(ctx, in, func(o *s3.Options) {
		o.HTTPClient = rec
		o.Retryer = aws.NopRetryer{}
	})
	if !errors.Is(err, errNotSent) {
		if err == nil {
			err = errors.New("the SDK answered without sending")
		}
		return nil, fmt.Errorf("build the notification configuration request: %w", err)
	}
	return rec.body, nil
}

// ARN is the queue's ARN (its QueueArn attribute), which a bucket's
// notification configuration names to send events to it.
func (q *Queue) ARN(ctx context.Context) (string, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get the ARN of queue %s: %w", q.url, err)
	}
	arn := out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("queue %s: its attributes have no QueueArn", q.url)
	}
	return arn, nil
}
