package trigger

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// NotificationID is the Id of the entry 's3flow trigger setup' writes in
// a bucket's notification configuration for flow: the one entry it
// replaces, whatever else the configuration holds.
func NotificationID(flow string) string { return "s3flow-" + flow }

// S3EventTypes are the S3 event types (s3:ObjectCreated:*) the trigger's
// events cover, in the order of its events.
func (e *S3Event) S3EventTypes() []types.Event {
	var out []types.Event
	for _, w := range e.Events {
		for _, c := range s3EventCategories {
			if c.word == w {
				out = append(out, types.Event(c.s3Type))
			}
		}
	}
	return out
}

// NotificationPlan is a bucket's notification configuration with a
// flow's entry put in, and what changed, in words.
type NotificationPlan struct {
	Config *types.NotificationConfiguration
	// Entry describes the flow's entry; Previous the one it replaces
	// ("" when it is added).
	ID, Entry, Previous string
	// Kept describes the configuration's other entries, kept as they are.
	Kept []string
}

// Unchanged reports that the configuration already holds the entry as it
// would be written.
func (p *NotificationPlan) Unchanged() bool { return p.Previous == p.Entry }

// Lines are the plan for a person: the entry added or replaced, the
// entries kept.
func (p *NotificationPlan) Lines() []string {
	var lines []string
	switch {
	case p.Unchanged():
		lines = append(lines, "unchanged "+p.Entry)
	case p.Previous == "":
		lines = append(lines, "add       "+p.Entry)
	default:
		lines = append(lines, "replace   "+p.Previous, "     with "+p.Entry)
	}
	for _, k := range p.Kept {
		lines = append(lines, "keep      "+k)
	}
	return lines
}

// CheckTargetARN checks that arn names a target a notification
// configuration can send to (a queue, a topic or a function).
func CheckTargetARN(arn string) error {
	_, err := targetService(arn)
	return err
}

// targetService is the service of an ARN (arn:PARTITION:SERVICE:...):
// sqs (AWS queues, and MinIO's webhook, AMQP... targets), sns or lambda.
func targetService(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, such as arn:minio:sqs::S3FLOW:webhook)", arn)
	}
	switch parts[2] {
	case "sqs", "sns", "lambda":
		return parts[2], nil
	}
	return "", fmt.Errorf("%q: want the ARN of a queue (sqs), a topic (sns) or a function (lambda), not of %q", arn, parts[2])
}

// PlanNotification puts the trigger's entry for flow, sending to
// targetARN, into the bucket's current configuration: an entry with the
// same Id (NotificationID) is replaced, every other entry kept. The
// entry has the trigger's events and its prefix and suffix as key
// filter rules.
func (e *S3Event) PlanNotification(current *s3.GetBucketNotificationConfigurationOutput, flow, targetARN string) (*NotificationPlan, error) {
	service, err := targetService(targetARN)
	if err != nil {
		return nil, err
	}
	id := NotificationID(flow)
	events := e.S3EventTypes()
	var filter *types.NotificationConfigurationFilter
	var rules []types.FilterRule
	if e.Prefix != "" {
		rules = append(rules, types.FilterRule{Name: types.FilterRuleNamePrefix, Value: aws.String(e.Prefix)})
	}
	if e.Suffix != "" {
		rules = append(rules, types.FilterRule{Name: types.FilterRuleNameSuffix, Value: aws.String(e.Suffix)})
	}
	if len(rules) > 0 {
		filter = &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: rules}}
	}
	if current == nil {
		current = &s3.GetBucketNotificationConfigurationOutput{}
	}
	plan := &NotificationPlan{ID: id, Config: &types.NotificationConfiguration{EventBridgeConfiguration: current.EventBridgeConfiguration},
		Entry: describeEntry(service, id, targetARN, events, filter)}
	if current.EventBridgeConfiguration != nil {
		plan.Kept = append(plan.Kept, "EventBridge delivery")
	}
	// A configuration holds each Id once: the entry in any of the three
	// lists is the one replaced.
	take := func(kind, entryID, arn string, ev []types.Event, f *types.NotificationConfigurationFilter) bool {
		d := describeEntry(kind, entryID, arn, ev, f)
		if entryID == id {
			plan.Previous = d
			return false
		}
		plan.Kept = append(plan.Kept, d)
		return true
	}
	for _, q := range current.QueueConfigurations {
		if take("sqs", aws.ToString(q.Id), aws.ToString(q.QueueArn), q.Events, q.Filter) {
			plan.Config.QueueConfigurations = append(plan.Config.QueueConfigurations, q)
		}
	}
	for _, t := range current.TopicConfigurations {
		if take("sns", aws.ToString(t.Id), aws.ToString(t.TopicArn), t.Events, t.Filter) {
			plan.Config.TopicConfigurations = append(plan.Config.TopicConfigurations, t)
		}
	}
	for _, l := range current.LambdaFunctionConfigurations {
		if take("lambda", aws.ToString(l.Id), aws.ToString(l.LambdaFunctionArn), l.Events, l.Filter) {
			plan.Config.LambdaFunctionConfigurations = append(plan.Config.LambdaFunctionConfigurations, l)
		}
	}
	switch service {
	case "sqs":
		plan.Config.QueueConfigurations = append(plan.Config.QueueConfigurations,
			types.QueueConfiguration{Id: aws.String(id), QueueArn: aws.String(targetARN), Events: events, Filter: filter})
	case "sns":
		plan.Config.TopicConfigurations = append(plan.Config.TopicConfigurations,
			types.TopicConfiguration{Id: aws.String(id), TopicArn: aws.String(targetARN), Events: events, Filter: filter})
	case "lambda":
		plan.Config.LambdaFunctionConfigurations = append(plan.Config.LambdaFunctionConfigurations,
			types.LambdaFunctionConfiguration{Id: aws.String(id), LambdaFunctionArn: aws.String(targetARN), Events: events, Filter: filter})
	}
	return plan, nil
}

// describeEntry is one entry in words; two entries that would send the
// same events to the same target read the same (events sorted, filter
// rule names in lower case as stores differ in their case).
func describeEntry(service, id, arn string, events []types.Event, f *types.NotificationConfigurationFilter) string {
	// What the store answered is shown on a terminal: anything but
	// printable text is quoted.
	printable := func(s string) string {
		if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return strconv.Quote(s)
		}
		return s
	}
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = printable(string(e))
	}
	slices.Sort(names)
	if id == "" {
		id = "(no Id)"
	}
	d := fmt.Sprintf("%s %q: %s to %s", map[string]string{"sqs": "queue", "sns": "topic", "lambda": "function"}[service], id, strings.Join(names, ", "), printable(arn))
	if f != nil && f.Key != nil {
		var rules []string
		for _, r := range f.Key.FilterRules {
			rules = append(rules, fmt.Sprintf("%s %q", printable(strings.ToLower(string(r.Name))), aws.ToString(r.Value)))
		}
		slices.Sort(rules)
		if len(rules) > 0 {
			d += ", keys with " + strings.Join(rules, " and ")
		}
	}
	return d
}
