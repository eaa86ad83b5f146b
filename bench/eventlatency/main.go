// Command eventlatency uploads objects one at a time to an S3 endpoint and
// measures how long after each PUT returned the "s3flow server" recorded
// the run the upload started. For bench/event-latency.sh.
//
// Each upload waits for its run to finish before the next one is made, so
// runs never overlap. The clock is read right after PutObject returns in
// this process (no process exit in between, as there would be with a CLI),
// and compared with two times the server records on the same machine's
// clock (GET /api/runs/{id}):
//
//   - accepted: the run's startedAt, set when the trigger records the run
//     as queued (the event was taken and the run written with its job);
//   - first step: the first step event's startedAt, when a worker began
//     the flow's first step.
//
// With -queue-url the S3-shaped notification of the object is sent to that
// SQS queue right after the PUT, as S3 would (goaws, the stand-in, cannot
// receive S3 events): the times are still counted from the PUT.
//
//	BENCH_TOKEN=... BENCH_ACCESS_KEY=... BENCH_SECRET_KEY=... eventlatency \
//	  -url http://127.0.0.1:8080 -flow hook -endpoint http://127.0.0.1:7070 -bucket bench -prefix hook/ -n 20
//
// Details go to stderr; stdout gets one Markdown table row (see -label).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

type options struct {
	url, flow, label            string
	endpoint, bucket, prefix    string
	queueURL                    string
	n                           int
	gap, jitter, poll, deadline time.Duration
}

func main() {
	o := options{}
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the server's base URL")
	flag.StringVar(&o.flow, "flow", "", "the flow the uploads start")
	flag.StringVar(&o.label, "label", "", "the mode's name in the table row (default: the flow)")
	flag.StringVar(&o.endpoint, "endpoint", "", "the S3 endpoint to upload to")
	flag.StringVar(&o.bucket, "bucket", "bench", "the bucket (made if missing)")
	flag.StringVar(&o.prefix, "prefix", "", "the keys' prefix")
	flag.StringVar(&o.queueURL, "queue-url", "", "an SQS queue (query protocol) to send each object's S3 notification to")
	flag.IntVar(&o.n, "n", 20, "uploads to make, one after another")
	flag.DurationVar(&o.gap, "gap", time.Second, "pause after a run finished before the next upload")
	flag.DurationVar(&o.jitter, "jitter", 0, "a further random pause of up to this much before each upload (for a polling trigger: uploads at random points of its period)")
	flag.DurationVar(&o.poll, "poll", 50*time.Millisecond, "how often to ask the server for the upload's run")
	flag.DurationVar(&o.deadline, "timeout", 3*time.Minute, "how long to wait for one upload's run to finish")
	flag.Parse()
	if o.label == "" {
		o.label = o.flow
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "eventlatency:", err)
		os.Exit(1)
	}
}

// runView is the part of GET /api/runs/{id} that is measured.
type runView struct {
	Run struct {
		Status   string     `json:"status"`
		Started  time.Time  `json:"startedAt"`
		Finished *time.Time `json:"finishedAt"`
	} `json:"run"`
	Events []struct {
		Started time.Time `json:"startedAt"`
	} `json:"events"`
}

func run(ctx context.Context, o options) error {
	token, ak, sk := os.Getenv("BENCH_TOKEN"), os.Getenv("BENCH_ACCESS_KEY"), os.Getenv("BENCH_SECRET_KEY")
	if token == "" || ak == "" || sk == "" {
		return errors.New("set $BENCH_TOKEN (an API token), $BENCH_ACCESS_KEY and $BENCH_SECRET_KEY (the S3 keys)")
	}
	if o.flow == "" || o.endpoint == "" || o.n < 1 {
		return fmt.Errorf("-flow and -endpoint are required and -n must be at least 1 (got %d)", o.n)
	}
	creds := credentials.NewStaticCredentialsProvider(ak, sk, "")
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(o.endpoint), UsePathStyle: true,
		HTTPClient: awshttp.NewBuildableClient(), Credentials: creds,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired})
	var sqsc *sqs.Client
	if o.queueURL != "" {
		u, err := url.Parse(o.queueURL)
		if err != nil {
			return fmt.Errorf("-queue-url: %w", err)
		}
		sqsc = sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(u.Scheme + "://" + u.Host),
			HTTPClient: awshttp.NewBuildableClient(), Credentials: creds},
			// Set by an option: New sets its default protocol over Options'.
			func(so *sqs.Options) { so.Protocol = awsquery.New(schemas.AmazonSQS) })
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(o.bucket)}); err != nil &&
		!strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") && !strings.Contains(err.Error(), "BucketAlreadyExists") {
		return fmt.Errorf("make bucket %s: %w", o.bucket, err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var accepted, first []time.Duration
	tag := time.Now().UTC().Format("150405")
	for i := range o.n {
		pause := o.gap
		if o.jitter > 0 {
			pause += rand.N(o.jitter)
		}
		time.Sleep(pause)
		key := fmt.Sprintf("%slat-%s-%03d.csv", o.prefix, tag, i)
		body := fmt.Appendf(nil, "upload,%d\n", i)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
			return fmt.Errorf("upload %s: %w", key, err)
		}
		put := time.Now()
		if sqsc != nil {
			msg := notification(o.bucket, key, len(body), fmt.Sprintf("%016X", put.UnixNano()))
			if _, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(o.queueURL), MessageBody: aws.String(string(msg))}); err != nil {
				return fmt.Errorf("send the notification of %s: %w", key, err)
			}
		}
		v, id, err := await(ctx, client, o, token, key)
		if err != nil {
			return err
		}
		if v.Run.Status != "succeeded" || len(v.Events) == 0 {
			return fmt.Errorf("run %s of %s: %s with %d step events, want succeeded", id, key, v.Run.Status, len(v.Events))
		}
		a, f := v.Run.Started.Sub(put), v.Events[0].Started.Sub(put)
		accepted, first = append(accepted, a), append(first, f)
		fmt.Fprintf(os.Stderr, "%s: %s: run %s accepted %s, first step %s after the PUT returned\n", o.label, key, id, ms(a), ms(f))
	}
	fmt.Printf("| %s | %d | %s | %s |\n", o.label, o.n, stats(accepted), stats(first))
	return nil
}

// notification is an S3 event notification of one created object, as S3
// sends it to SQS (the bench's keys need no URL-encoding).
func notification(bucket, key string, size int, sequencer string) []byte {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": key, "size": size, "sequencer": sequencer}},
	}}})
	return b
}

// await waits for the run of key to appear and finish, and returns it.
func await(ctx context.Context, client *http.Client, o options, token, key string) (runView, string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.deadline)
	defer cancel()
	var id string
	for id == "" {
		var rs []struct {
			ID      string         `json:"id"`
			Trigger map[string]any `json:"trigger"`
		}
		if err := getJSON(ctx, client, o.url+"/api/runs?limit=5&flow="+url.QueryEscape(o.flow), token, &rs); err != nil {
			return runView{}, "", fmt.Errorf("wait for the run of %s: %w", key, err)
		}
		for _, r := range rs {
			if r.Trigger["key"] == key {
				id = r.ID
			}
		}
		if id == "" {
			if err := pause(ctx, o.poll); err != nil {
				return runView{}, "", fmt.Errorf("no run of %s after %v: %w", key, o.deadline, err)
			}
		}
	}
	for {
		var v runView
		if err := getJSON(ctx, client, o.url+"/api/runs/"+id, token, &v); err != nil {
			return v, id, fmt.Errorf("read run %s: %w", id, err)
		}
		if v.Run.Finished != nil {
			return v, id, nil
		}
		if err := pause(ctx, o.poll); err != nil {
			return v, id, fmt.Errorf("run %s of %s is still %s after %v: %w", id, key, v.Run.Status, o.deadline, err)
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func getJSON(ctx context.Context, client *http.Client, url, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, v)
}

// stats is "min / median / p90 / max"; p90 (nearest rank) only from 10
// samples on.
func stats(d []time.Duration) string {
	d = slices.Clone(d)
	slices.Sort(d)
	p90 := "—"
	if len(d) >= 10 {
		p90 = ms(d[(90*len(d)+99)/100-1])
	}
	return fmt.Sprintf("%s / %s / %s / %s", ms(d[0]), ms(median(d)), p90, ms(d[len(d)-1]))
}

func median(d []time.Duration) time.Duration {
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

func ms(d time.Duration) string {
	if d >= 10*time.Second || d <= -10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	s := fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	return strings.TrimSuffix(s, ".0") + " ms"
}
