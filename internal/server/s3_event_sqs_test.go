package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/s3flow/s3flow/internal/s3test"
	"github.com/s3flow/s3flow/internal/store/storetest"
)

// sqsEndpoint is goaws's address (scripts/test.sh starts it); without it
// the SQS tests skip, except under CI, where they must run.
func sqsEndpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("S3FLOW_TEST_SQS_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("S3FLOW_TEST_SQS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts goaws")
		}
		t.Skip("S3FLOW_TEST_SQS_ENDPOINT is not set (scripts/test.sh starts goaws)")
	}
	return ep
}

// sqsTestClient speaks to goaws as the server does (query protocol; goaws
// takes any keys).
func sqsTestClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), HTTPClient: awshttp.NewBuildableClient(),
		Credentials: credentials.NewStaticCredentialsProvider("goaws", "goaws", "")},
		// Set by an option: New sets its default protocol over Options'.
		func(o *sqs.Options) { o.Protocol = awsquery.New(schemas.AmazonSQS) })
}

// snsEnvelope wraps a notification as SNS delivers it to an SQS queue
// without raw delivery.
func snsEnvelope(notification []byte) []byte {
	b, _ := json.Marshal(map[string]any{"Type": "Notification", "MessageId": "6e5a0c3b-0000-4000-8000-000000000000",
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:reports", "Subject": "Amazon S3 Notification",
		"Message": string(notification), "Timestamp": "2026-12-01T06:00:01.000Z", "SignatureVersion": "1"})
	return b
}

// garbageBody is a message no store sends; it must not reach the log.
const garbageBody = "not-json garbage-7f3c9a"

// sqsMessages are the test's 20 messages: 12 S3 → SQS notifications, 5
// through SNS (one repeats a direct one's record, one holds a record of
// other keys too), one of another bucket only, AWS's test event and
// garbage. 16 distinct records match the trigger.
func sqsMessages() (bodies [][]byte, keys []string) {
	for i := range 12 {
		key := fmt.Sprintf("in/direct-%02d.csv", i)
		bodies = append(bodies, s3Notification(created(key, fmt.Sprintf("A%02d", i))))
		keys = append(keys, key)
	}
	for i := range 4 {
		key := fmt.Sprintf("in/sns-%02d.csv", i)
		records := [][4]string{created(key, fmt.Sprintf("B%02d", i))}
		if i == 0 {
			records = append(records, created("out/not-in-prefix.csv", "B99"))
		}
		bodies = append(bodies, snsEnvelope(s3Notification(records...)))
		keys = append(keys, key)
	}
	bodies = append(bodies, snsEnvelope(s3Notification(created("in/direct-00.csv", "A00")))) // S3 → SNS → SQS as well
	bodies = append(bodies, s3Notification([4]string{"ObjectCreated:Put", "other-bucket", "in/x.csv", "C00"}))
	bodies = append(bodies, []byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T06:00:00.000Z","Bucket":"reports","RequestId":"X","HostId":"Y"}`))
	bodies = append(bodies, []byte(garbageBody))
	return bodies, keys
}

// TestS3EventSQS: a flow whose s3_event reads a queue (goaws) starts one
// run per matching record of S3 → SQS and S3 → SNS → SQS messages,
// deletes every message it took (the test event too) and leaves the
// garbage one for the redrive policy, without logging its body; the same
// messages sent again start nothing. On SQLite and PostgreSQL.
func TestS3EventSQS(t *testing.T) {
	endpoint := sqsEndpoint(t)
	tg := s3test.Versitygw(t)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var shared []string
			if db == "postgres" {
				key := make([]byte, 32)
				rand.Read(key)
				shared = []string{"S3FLOW_DATABASE=" + storetest.Postgres(t), "S3FLOW_ENCRYPTION_KEY=" + hex.EncodeToString(key)}
			}
			ctx := context.Background()
			client := sqsTestClient(endpoint)
			made, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("s3ev-" + db + "-" + rand.Text()[:8]),
				Attributes: map[string]string{"VisibilityTimeout": "2"}})
			if err != nil {
				t.Fatal(err)
			}
			queueURL := aws.ToString(made.QueueUrl)
			t.Cleanup(func() { client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: made.QueueUrl}) })
			bodies, keys := sqsMessages()
			send := func() {
				t.Helper()
				for _, b := range bodies {
					if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: made.QueueUrl, MessageBody: aws.String(string(b))}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Messages not deleted, in flight or not.
			inQueue := func() int {
				t.Helper()
				out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: made.QueueUrl})
				if err != nil {
					t.Fatal(err)
				}
				n, err := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
				if err != nil {
					t.Fatalf("ApproximateNumberOfMessages: %v", err)
				}
				return n
			}

			send()
			e := newEnv(t, tg, tg.Conn.Endpoint, shared...)
			e.args = append(e.args, "--debug")
			e.writeFlow("queued", fmt.Sprintf("name: queued\ntrigger:\n  s3_event: {connection: vg, bucket: reports, prefix: in/, suffix: .csv, "+
				"queue_url: %q, queue_protocol: query}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [\"{{ trigger.key }}\"]}}\n", queueURL))
			e.start()
			// On PostgreSQL a second server shares the database and the flow:
			// only the one holding the trigger lock reads the queue.
			var twin *env
			if db == "postgres" {
				twin = e.twin()
				twin.start()
			}
			// Only the garbage message is left: every other was deleted, each
			// after its runs' transaction committed.
			waitFor(t, func() bool { return inQueue() == 1 })
			checkRuns := func() {
				t.Helper()
				rs := e.runs()
				got := map[string]int{}
				for _, r := range rs {
					trig, _ := r["trigger"].(map[string]any)
					got[fmt.Sprint(trig["key"])]++
				}
				if len(rs) != len(keys) {
					t.Errorf("%d runs, want %d: %v", len(rs), len(keys), got)
				}
				for _, k := range keys {
					if got[k] != 1 {
						t.Errorf("%s started %d runs, want 1", k, got[k])
					}
				}
			}
			checkRuns()

			// The same messages again: all taken, nothing new started.
			send()
			waitFor(t, func() bool { return inQueue() == 2 })
			checkRuns()
			waitFor(t, func() bool { return countStatus(e.runs(), "succeeded") == len(keys) })

			// The flow has no events URL, and no URL token.
			if code, body := e.do("POST", "/api/flows/queued/event-token", e.token, []byte(`{}`), nil); code != 400 ||
				!strings.Contains(fmt.Sprint(body["error"]), "reads its S3 events from an SQS queue") {
				t.Errorf("event token of a queue flow: %d %v, want 400", code, body)
			}
			if code, body := e.do("POST", "/events/queued", "", bodies[0], nil); code != 401 {
				t.Errorf("POST /events/queued: %d %v, want 401 as for a flow without the trigger", code, body)
			}
			// Counted while both run: once one stops, the other takes over.
			if twin != nil {
				readers := 0
				for _, srv := range []*env{e, twin} {
					if strings.Contains(srv.srvLog.String(), "s3_event: reading the queue") {
						readers++
					}
				}
				if readers != 1 {
					t.Errorf("%d servers read the queue, want 1", readers)
				}
			}
			e.stop(syscall.SIGTERM)
			if twin != nil {
				twin.stop(syscall.SIGTERM)
			}

			log := e.srvLog.String()
			if twin != nil {
				log += twin.srvLog.String()
			}
			if !strings.Contains(log, "is not an S3 event notification") {
				t.Errorf("the garbage message was not logged:\n%s", log)
			}
			if strings.Contains(log, "garbage-7f3c9a") {
				t.Errorf("the log shows a message's body:\n%s", log)
			}
			// What is left is the garbage, twice, back once its visibility
			// timeout ends.
			for range 2 {
				out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: made.QueueUrl, WaitTimeSeconds: 20, MaxNumberOfMessages: 1})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != garbageBody {
					t.Fatalf("left in the queue: %+v, want the garbage message", out.Messages)
				}
				client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: made.QueueUrl, ReceiptHandle: out.Messages[0].ReceiptHandle})
			}
		})
	}
}

// TestS3EventSQSBackoff: a queue that cannot be reached is tried again
// after 1 s, 2 s, 4 s… (the log says when), and the server keeps serving.
func TestS3EventSQSBackoff(t *testing.T) {
	tg := s3test.Versitygw(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there now
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("queued", fmt.Sprintf("name: queued\ntrigger:\n  s3_event: {connection: vg, bucket: reports, "+
		"queue_url: \"http://%s/100010001000/nowhere\", queue_protocol: query}\nsteps:\n  - {id: a, module: flow.iterate, with: {items: [1]}}\n", closed))
	e.start()
	waitFor(t, func() bool { return strings.Contains(e.srvLog.String(), "retry_in=4s") })
	log := e.srvLog.String()
	for _, want := range []string{"retry_in=1s", "retry_in=2s", "s3_event: receive from the queue"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}
	if code, _ := e.do("GET", "/api/flows", e.token, nil, nil); code != 200 {
		t.Errorf("GET /api/flows: %d while the queue is away", code)
	}
}
