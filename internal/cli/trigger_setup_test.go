package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/schemas"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/runs"
	"github.com/s3flow/s3flow/internal/s3test"
)

// syncBuffer is a buffer written by a process or goroutine while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr is a 127.0.0.1 address free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitUntil polls ok until it holds, failing the test after a minute.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startMinio starts the MinIO of scripts/test.sh (S3FLOW_TEST_MINIO_BIN)
// at addr, its webhook target S3FLOW posting to webhook, and waits until
// it is ready.
func startMinio(t *testing.T, addr string, tg s3test.Target, webhook string) {
	t.Helper()
	bin := os.Getenv("S3FLOW_TEST_MINIO_BIN")
	if bin == "" {
		s3test.SkipOrFail(t, "no MinIO binary: run the tests with scripts/test.sh (S3FLOW_TEST_MINIO_BIN is unset)")
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, filepath.Join(t.TempDir(), "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+tg.Conn.AccessKeyID, "MINIO_ROOT_PASSWORD="+tg.Conn.SecretAccessKey.Reveal(),
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on",
		"MINIO_NOTIFY_WEBHOOK_ENABLE_S3FLOW=on", "MINIO_NOTIFY_WEBHOOK_ENDPOINT_S3FLOW="+webhook)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitUntil(t, "MinIO to be ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("minio exited:\n%s", logs)
		default:
		}
		resp, err := http.Get(tg.Conn.Endpoint + "/minio/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// TestTriggerSetup: against MinIO with a webhook target pointing at the
// flow's events URL, 's3flow trigger setup' keeps the bucket's other
// notification entry and adds the flow's (as the aws CLI reads it back);
// an upload then starts exactly one run. --dry-run prints the XML and
// changes nothing; running it again keeps one s3flow entry.
func TestTriggerSetup(t *testing.T) {
	if _, err := os.Stat(s3test.AWSCLI); err != nil {
		s3test.SkipOrFail(t, "%s is missing (scripts/test.sh installs it)", s3test.AWSCLI)
	}
	if os.Getenv("S3FLOW_TEST_MINIO_BIN") == "" {
		s3test.SkipOrFail(t, "no MinIO binary: run the tests with scripts/test.sh (S3FLOW_TEST_MINIO_BIN is unset)")
	}
	setup(t)
	secret := make([]byte, 16)
	rand.Read(secret)
	minioAddr := freeAddr(t)
	tg := s3test.Target{Name: "minio", Conn: connection.Connection{AccessKeyID: "setuptest",
		SecretAccessKey: connection.NewSecret(hex.EncodeToString(secret)), Region: "us-east-1", Endpoint: "http://" + minioAddr, PathStyle: true}}
	t.Setenv("SETUP_TEST_SECRET", tg.Conn.SecretAccessKey.Reveal())
	if code, _, stderr := runCLI(t, "", "connection", "create", "minio", "--endpoint", tg.Conn.Endpoint, "--path-style",
		"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "SETUP_TEST_SECRET", "--no-verify"); code != 0 {
		t.Fatalf("connection create: %s", stderr)
	}
	flows := t.TempDir()
	flowFile := filepath.Join(flows, "uploads.yaml")
	if err := os.WriteFile(flowFile, []byte("name: uploads\ntrigger:\n  s3_event: {connection: minio, bucket: events, prefix: in/, suffix: .csv}\n"+
		"steps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, token, stderr := runCLI(t, "", "trigger", "token", flowFile)
	if code != 0 {
		t.Fatalf("trigger token: %s", stderr)
	}
	token = strings.TrimSpace(token)

	// The server, as 's3flow server' runs it, until the test ends.
	serverAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	serverIO, _, serverErr := TestIO("")
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, serverIO, []string{"server", "--flows", flows, "--addr", serverAddr, "--workers", "1", "--allow-private-endpoints", "--grace", "5s"})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exited %d", code)
		}
	})
	waitUntil(t, "the server", func() bool {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("server exited %d:\n%s", code, serverErr)
		default:
		}
		resp, err := http.Get("http://" + serverAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	startMinio(t, minioAddr, tg, "http://"+serverAddr+"/events/uploads/"+token)
	const arn = "arn:minio:sqs::S3FLOW:webhook"

	tg.AWS(t, "s3api", "create-bucket", "--bucket", "events")
	other := `{"QueueConfigurations":[{"Id":"other","QueueArn":"` + arn + `","Events":["s3:ObjectRemoved:*"],` +
		`"Filter":{"Key":{"FilterRules":[{"Name":"prefix","Value":"archive/"}]}}}]}`
	tg.AWS(t, "s3api", "put-bucket-notification-configuration", "--bucket", "events", "--notification-configuration", other)
	type entry struct {
		ID       string   `json:"Id"`
		QueueArn string   `json:"QueueArn"`
		Events   []string `json:"Events"`
		Filter   struct {
			Key struct {
				FilterRules []struct{ Name, Value string }
			}
		}
	}
	entries := func() map[string]entry {
		var cfg struct{ QueueConfigurations []entry }
		out := tg.AWS(t, "s3api", "get-bucket-notification-configuration", "--bucket", "events")
		if err := json.Unmarshal([]byte(out), &cfg); err != nil {
			t.Fatalf("aws get-bucket-notification-configuration: %v\n%s", err, out)
		}
		m := map[string]entry{}
		for _, e := range cfg.QueueConfigurations {
			if _, dup := m[e.ID]; dup {
				t.Errorf("entry %q twice in %s", e.ID, out)
			}
			m[e.ID] = e
		}
		return m
	}
	if got := entries(); len(got) != 1 || got["other"].QueueArn != arn {
		t.Fatalf("before setup: %v", got)
	}

	// --dry-run: the XML the SDK would send, with both entries; nothing written.
	code, xmlOut, stderr := runCLI(t, "", "trigger", "setup", flowFile, "--target-arn", arn, "--dry-run")
	if code != 0 {
		t.Fatalf("setup --dry-run: %d %s", code, stderr)
	}
	for _, want := range []string{"<NotificationConfiguration", "<Id>other</Id>", "<Id>s3flow-uploads</Id>", "<Event>s3:ObjectCreated:*</Event>",
		"<Name>prefix</Name><Value>in/</Value>", "<Name>suffix</Name><Value>.csv</Value>", "<Queue>" + arn + "</Queue>"} {
		if !strings.Contains(xmlOut, want) {
			t.Errorf("--dry-run output lacks %s:\n%s", want, xmlOut)
		}
	}
	if !strings.Contains(stderr, `add       queue "s3flow-uploads"`) || !strings.Contains(stderr, `keep      queue "other"`) || !strings.Contains(stderr, "nothing written") {
		t.Errorf("--dry-run plan:\n%s", stderr)
	}
	if got := entries(); len(got) != 1 {
		t.Fatalf("after --dry-run: %v, want the other entry alone", got)
	}

	// For real, twice: one s3flow entry, the other kept as it was.
	for i := range 2 {
		code, _, stderr = runCLI(t, "", "trigger", "setup", flowFile, "--target-arn", arn)
		if code != 0 {
			t.Fatalf("setup #%d: %d %s", i+1, code, stderr)
		}
		if i == 1 && !strings.Contains(stderr, "nothing to change") {
			t.Errorf("setup again: %s", stderr)
		}
		got := entries()
		if len(got) != 2 {
			t.Fatalf("after setup #%d: %v, want other and s3flow-uploads", i+1, got)
		}
		if o := got["other"]; o.QueueArn != arn || len(o.Events) != 1 || o.Events[0] != "s3:ObjectRemoved:*" ||
			len(o.Filter.Key.FilterRules) != 1 || o.Filter.Key.FilterRules[0].Value != "archive/" {
			t.Errorf("other entry changed: %+v", o)
		}
		if s := got["s3flow-uploads"]; s.QueueArn != arn || len(s.Events) != 1 || s.Events[0] != "s3:ObjectCreated:*" || len(s.Filter.Key.FilterRules) != 2 {
			t.Errorf("s3flow entry: %+v", s)
		}
	}

	// Each upload under the prefix with the suffix starts exactly one run,
	// one with another suffix none (MinIO filters it out). The last upload
	// is the barrier: once its run is there, the others' are too.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x,y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"in/a b.csv", "in/b.txt", "archive/c.csv", "in/z.csv"} {
		tg.AWS(t, "s3", "cp", "--only-show-errors", filepath.Join(dir, "f"), "s3://events/"+key)
	}
	a := newApp(&IOStreams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}, inFd: -1})
	defer a.close()
	hist, err := a.history(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	waitUntil(t, "the runs of the uploads", func() bool {
		rs, err := hist.List(t.Context(), runs.Filter{Flow: "uploads"})
		if err != nil {
			t.Fatal(err)
		}
		keys = map[string]int{}
		for _, r := range rs {
			full, err := hist.Get(t.Context(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			key, _ := full.Trigger["key"].(string)
			keys[key]++
		}
		return keys["in/a b.csv"] > 0 && keys["in/z.csv"] > 0
	})
	if len(keys) != 2 || keys["in/a b.csv"] != 1 || keys["in/z.csv"] != 1 {
		t.Errorf("runs by key: %v, want one for in/a b.csv and one for in/z.csv", keys)
	}
}

// TestTriggerSetupRefused: a flow without an s3_event trigger, without a
// target, or on the local connection is a usage error naming what to
// give; a store without notification configurations (versitygw,
// SeaweedFS) is told apart, while --dry-run still shows what would be
// written when the store can be read.
func TestTriggerSetupRefused(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	write := func(name, yaml string) string {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	steps := "steps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n"
	hook := write("hook", "name: hook\ntrigger:\n  schedule: {every: 1h}\n"+steps)
	local := write("onlocal", "name: onlocal\ntrigger:\n  s3_event: {connection: local, bucket: b}\n"+steps)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no s3_event trigger", []string{hook, "--target-arn", "arn:minio:sqs::X:webhook"}, "flow hook has no s3_event trigger"},
		{"local", []string{local, "--target-arn", "arn:minio:sqs::X:webhook"}, "connection: local needs no setup"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", append([]string{"trigger", "setup"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
	for _, tg := range []s3test.Target{s3test.Versitygw(t), s3test.Seaweed(t)} {
		t.Run(tg.Name, func(t *testing.T) {
			t.Setenv("SETUP_TEST_SECRET", tg.Conn.SecretAccessKey.Reveal())
			if code, _, stderr := runCLI(t, "", "connection", "create", tg.Name, "--endpoint", tg.Conn.Endpoint, "--path-style",
				"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "SETUP_TEST_SECRET", "--no-verify"); code != 0 {
				t.Fatalf("connection create: %s", stderr)
			}
			bucket := tg.Bucket(t)
			flow := write("on"+tg.Name, "name: on"+tg.Name+"\ntrigger:\n  s3_event: {connection: "+tg.Name+", bucket: "+bucket+"}\n"+steps)
			code, _, stderr := runCLI(t, "", "trigger", "setup", flow)
			if code != 2 || !strings.Contains(stderr, "--target-arn: required") {
				t.Errorf("without --target-arn: exit %d, %q", code, stderr)
			}
			code, _, stderr = runCLI(t, "", "trigger", "setup", flow, "--target-arn", "not-an-arn")
			if code != 2 || !strings.Contains(stderr, "--target-arn: \"not-an-arn\" is not an ARN") {
				t.Errorf("--target-arn not-an-arn: exit %d, %q", code, stderr)
			}
			code, _, stderr = runCLI(t, "", "trigger", "setup", flow, "--target-arn", "arn:minio:sqs::X:webhook")
			t.Logf("%s answers: exit %d, %s", tg.Name, code, stderr)
			if code == 0 {
				// A store that takes it must keep it: read it back.
				out := tg.AWS(t, "s3api", "get-bucket-notification-configuration", "--bucket", bucket)
				if !strings.Contains(out, "s3flow-on"+tg.Name) {
					t.Errorf("setup succeeded but the configuration reads %s", out)
				}
			} else if !strings.Contains(stderr, "notification configuration of bucket "+bucket) || !strings.Contains(stderr, "--dry-run") {
				t.Errorf("refusal does not say what was refused, nor what to do: %s", stderr)
			}
			// --dry-run works on a store that refuses: the XML of the
			// flow's entry alone.
			code, out, stderr := runCLI(t, "", "trigger", "setup", flow, "--target-arn", "arn:minio:sqs::X:webhook", "--dry-run")
			if code != 0 || !strings.Contains(out, "<Id>s3flow-on"+tg.Name+"</Id>") || !strings.Contains(out, "<Event>s3:ObjectCreated:*</Event>") {
				t.Errorf("--dry-run: exit %d, stdout %s, stderr %s", code, out, stderr)
			}
		})
	}
}

// TestTriggerSetupQueueARN: with queue_url and no --target-arn, the
// queue's ARN is asked of SQS (goaws) and named in the configuration.
func TestTriggerSetupQueueARN(t *testing.T) {
	ep := os.Getenv("S3FLOW_TEST_SQS_ENDPOINT")
	if ep == "" {
		s3test.SkipOrFail(t, "S3FLOW_TEST_SQS_ENDPOINT is not set (scripts/test.sh starts goaws)")
	}
	setup(t)
	tg := s3test.Versitygw(t)
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), HTTPClient: awshttp.NewBuildableClient(),
		Credentials: credentials.NewStaticCredentialsProvider(tg.Conn.AccessKeyID, tg.Conn.SecretAccessKey.Reveal(), "")},
		func(o *sqs.Options) { o.Protocol = awsquery.New(schemas.AmazonSQS) })
	made, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("setup-" + rand.Text()[:8])})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: made.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := attrs.Attributes["QueueArn"]
	t.Setenv("SETUP_TEST_SECRET", tg.Conn.SecretAccessKey.Reveal())
	if code, _, stderr := runCLI(t, "", "connection", "create", "store", "--endpoint", tg.Conn.Endpoint, "--path-style",
		"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "SETUP_TEST_SECRET", "--no-verify"); code != 0 {
		t.Fatalf("connection create: %s", stderr)
	}
	flow := filepath.Join(t.TempDir(), "fromqueue.yaml")
	if err := os.WriteFile(flow, []byte("name: fromqueue\ntrigger:\n  s3_event: {connection: store, bucket: "+tg.Bucket(t)+
		", events: [created, removed], queue_url: \""+aws.ToString(made.QueueUrl)+"\", queue_protocol: query}\n"+
		"steps:\n  - {id: items, module: flow.iterate, with: {items: [1]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, "", "trigger", "setup", flow, "--dry-run")
	if code != 0 || arn == "" || !strings.Contains(out, "<Queue>"+arn+"</Queue>") ||
		!strings.Contains(out, "<Event>s3:ObjectCreated:*</Event><Event>s3:ObjectRemoved:*</Event>") {
		t.Errorf("--dry-run: exit %d, want the queue's ARN %q and both events; stdout %s, stderr %s", code, arn, out, stderr)
	}
}
