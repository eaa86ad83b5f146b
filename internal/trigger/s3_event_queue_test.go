package trigger

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3client"
)

// queueHost is a fakeHost whose connection reaches goaws (any keys, on
// loopback).
type queueHost struct{ *fakeHost }

func (queueHost) Connection(context.Context, string) (connection.Connection, error) {
	return connection.Connection{Name: "sqs", Kind: connection.KindKeys, AccessKeyID: "goaws",
		SecretAccessKey: connection.NewSecret("goaws"), AllowPrivate: true}, nil
}

// TestS3EventQueueRun runs the poller in this process (so that -race sees
// it) against goaws: each matching record of the messages fires once, the
// messages are deleted but the one that is not a notification, and the
// poller ends with its context.
func TestS3EventQueueRun(t *testing.T) {
	endpoint := os.Getenv("S3FLOW_TEST_SQS_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("S3FLOW_TEST_SQS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts goaws")
		}
		t.Skip("S3FLOW_TEST_SQS_ENDPOINT is not set (scripts/test.sh starts goaws)")
	}
	ctx := t.Context()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: awshttp.NewBuildableClient(),
		Credentials: credentials.NewStaticCredentialsProvider("goaws", "goaws", "")},
		func(o *sqs.Options) { o.Protocol = awsquery.New(schemas.AmazonSQS) })
	made, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("trigger-" + strconv.FormatInt(time.Now().UnixNano(), 36))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: made.QueueUrl}) })
	for _, body := range [][]byte{
		notification(s3Record("ObjectCreated:Put", "reports", "in/a.csv", "01"), s3Record("ObjectCreated:Put", "reports", "out/b.csv", "02")),
		notification(s3Record("ObjectCreated:Put", "reports", "in/c.csv", "03")),
		notification(s3Record("ObjectCreated:Put", "reports", "in/a.csv", "01")), // a copy
		[]byte(`{"Records": "no"}`),
	} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: made.QueueUrl, MessageBody: aws.String(string(body))}); err != nil {
			t.Fatal(err)
		}
	}
	h := queueHost{newFakeHost(t)}
	q := &S3EventQueue{S3Event: &S3Event{Connection: "sqs", Bucket: "reports", Prefix: "in/", Events: []string{"created"}, KeysEncoded: true},
		QueueURL: aws.ToString(made.QueueUrl), Protocol: s3client.QueueQuery}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { q.Run(runCtx, h, "f"); close(done) }()
	left := func() int {
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: made.QueueUrl})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for left() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages left, want only the one that is not a notification", left())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	fired := h.takeFired()
	slices.Sort(fired)
	if !slices.Equal(fired, []string{"in/a.csv", "in/c.csv"}) {
		t.Errorf("fired %v, want in/a.csv and in/c.csv once each", fired)
	}
}
