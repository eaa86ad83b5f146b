package trigger

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPlanNotification: the flow's entry is added or replaces the one with
// its Id, wherever it was; every other entry is kept as it was.
func TestPlanNotification(t *testing.T) {
	ev := &S3Event{Bucket: "b", Prefix: "in/", Suffix: ".csv", Events: []string{"created", "removed"}}
	other := types.QueueConfiguration{Id: aws.String("other"), QueueArn: aws.String("arn:aws:sqs:us-east-1:1:q"), Events: []types.Event{"s3:ObjectRemoved:*"}}
	topic := types.TopicConfiguration{Id: aws.String("s3flow-f"), TopicArn: aws.String("arn:aws:sns:us-east-1:1:t"), Events: []types.Event{"s3:ObjectCreated:*"}}
	for _, tt := range []struct {
		name      string
		current   *s3.GetBucketNotificationConfigurationOutput
		arn       string
		queues    int
		topics    int
		verb      string
		kept      int
		wantError string
	}{
		{"empty", nil, "arn:minio:sqs::S3FLOW:webhook", 1, 0, "add", 0, ""},
		{"others kept", &s3.GetBucketNotificationConfigurationOutput{QueueConfigurations: []types.QueueConfiguration{other}}, "arn:minio:sqs::S3FLOW:webhook", 2, 0, "add", 1, ""},
		{"topic replaced by a queue", &s3.GetBucketNotificationConfigurationOutput{QueueConfigurations: []types.QueueConfiguration{other}, TopicConfigurations: []types.TopicConfiguration{topic}}, "arn:aws:sqs:us-east-1:1:mine", 2, 0, "replace", 1, ""},
		{"topic target", nil, "arn:aws:sns:us-east-1:1:t", 0, 1, "add", 0, ""},
		{"not an ARN", nil, "https://example.com/hook", 0, 0, "", 0, "is not an ARN"},
		{"unknown service", nil, "arn:aws:s3:::bucket", 0, 0, "", 0, `not of "s3"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ev.PlanNotification(tt.current, "f", tt.arn)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err = %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Config.QueueConfigurations) != tt.queues || len(p.Config.TopicConfigurations) != tt.topics {
				t.Errorf("queues %d topics %d, want %d %d", len(p.Config.QueueConfigurations), len(p.Config.TopicConfigurations), tt.queues, tt.topics)
			}
			if lines := p.Lines(); !strings.HasPrefix(lines[0], tt.verb) || len(p.Kept) != tt.kept {
				t.Errorf("lines %q, kept %d; want %s, %d kept", lines, len(p.Kept), tt.verb, tt.kept)
			}
			if !strings.Contains(p.Entry, `"s3flow-f": s3:ObjectCreated:*, s3:ObjectRemoved:* to `+tt.arn+`, keys with prefix "in/" and suffix ".csv"`) {
				t.Errorf("entry %s", p.Entry)
			}
		})
	}
	// The same entry read back (filter rule names in another case, events
	// in another order) is unchanged.
	back := &s3.GetBucketNotificationConfigurationOutput{QueueConfigurations: []types.QueueConfiguration{{
		Id: aws.String("s3flow-f"), QueueArn: aws.String("arn:minio:sqs::S3FLOW:webhook"), Events: []types.Event{"s3:ObjectRemoved:*", "s3:ObjectCreated:*"},
		Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
			{Name: "Suffix", Value: aws.String(".csv")}, {Name: "Prefix", Value: aws.String("in/")}}}},
	}}}
	p, err := ev.PlanNotification(back, "f", "arn:minio:sqs::S3FLOW:webhook")
	if err != nil || !p.Unchanged() {
		t.Errorf("read back: unchanged = %v, %v; lines %q", p != nil && p.Unchanged(), err, p.Lines())
	}
}
