package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/trigger"
)

func newTriggerSetupCmd(a *app) *cobra.Command {
	var targetARN string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "setup FLOW_FILE",
		Short: "Write the bucket's event notification configuration for a flow's s3_event trigger",
		Long: `Writes the notification configuration of the bucket of the flow's s3_event
trigger (PutBucketNotificationConfiguration), with the trigger's
connection, so that the store sends the trigger's events: one entry with
the Id s3flow-FLOW, the trigger's events (created: s3:ObjectCreated:*,
removed: s3:ObjectRemoved:*, ...) and its prefix and suffix as key filter
rules, sent to the target ARN.

The target is --target-arn: for MinIO the ARN of a webhook target posting
to the server's /events/FLOW/TOKEN (arn:minio:sqs::ID:webhook, from
MINIO_NOTIFY_WEBHOOK_ENABLE_ID and MINIO_NOTIFY_WEBHOOK_ENDPOINT_ID; the
token from 's3flow trigger token'), for AWS a queue's or topic's ARN.
With queue_url and no --target-arn, the queue's ARN is asked of SQS
(GetQueueAttributes).

The current configuration is read first; its other entries are kept, and
only an entry with the flow's Id is replaced. What changes is shown
before it is written; running it again changes nothing. --dry-run shows
the change and prints the XML that would be sent, and writes nothing.

Stores without notification configurations (versitygw, SeaweedFS) answer
NotImplemented: configure them their own way (versitygw's
--event-webhook-url).`,
		Example: `  s3flow trigger setup flows/uploads.yaml --target-arn arn:minio:sqs::S3FLOW:webhook --dry-run
  s3flow trigger setup flows/uploads.yaml --target-arn arn:minio:sqs::S3FLOW:webhook
  s3flow trigger setup flows/from-queue.yaml     # queue_url: the queue's ARN is looked up`,
		Args: exactArg("FLOW_FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return triggerSetup(cmd.Context(), a, args[0], targetARN, dryRun)
		},
	}
	cmd.Flags().StringVar(&targetARN, "target-arn", "", "ARN the store sends the events to (MinIO: arn:minio:sqs::ID:webhook; default with queue_url: the queue's ARN)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the change and print the XML that would be sent; write nothing")
	return cmd
}

func triggerSetup(ctx context.Context, a *app, file, targetARN string, dryRun bool) error {
	f, err := a.loadFlow(ctx, file)
	if err != nil {
		return err
	}
	t, ok := f.Trigger("s3_event")
	if !ok {
		return usagef("flow %s has no s3_event trigger: trigger setup writes the bucket notification configuration of one", f.Name)
	}
	var ev *trigger.S3Event
	var queue *trigger.S3EventQueue
	switch c := t.Config.(type) {
	case *trigger.S3Event:
		ev = c
	case *trigger.S3EventQueue:
		ev, queue = c.S3Event, c
	default:
		return fmt.Errorf("flow %s: s3_event trigger of an unknown shape %T", f.Name, t.Config)
	}
	if ev.Connection == connection.LocalName {
		return usagef("s3_event connection: local needs no setup: the local endpoint sends its events to the server of the same S3FLOW_HOME")
	}
	if targetARN == "" && queue == nil {
		return usagef("--target-arn: required when the s3_event trigger has no queue_url: give the ARN of the store's target that posts to /events/%s/TOKEN (MinIO: arn:minio:sqs::ID:webhook)", f.Name)
	}
	conn, err := a.resolve(ctx, ev.Connection)
	if err != nil {
		return fmt.Errorf("s3_event connection %q: %w", ev.Connection, err)
	}
	if targetARN != "" {
		if err := trigger.CheckTargetARN(targetARN); err != nil {
			return usagef("--target-arn: %v", err)
		}
	} else {
		q, err := s3client.NewQueue(ctx, conn, queue.QueueURL, queue.Protocol, s3client.Options{Logger: a.logger()})
		if err != nil {
			return fmt.Errorf("s3_event queue_url: %w", err)
		}
		if targetARN, err = q.ARN(ctx); err != nil {
			return fmt.Errorf("s3_event queue_url: %w (give it with --target-arn)", s3client.Explain(err))
		}
	}
	client, err := s3client.New(ctx, conn, "", s3client.Options{Logger: a.logger()})
	if err != nil {
		return err
	}
	var current *s3.GetBucketNotificationConfigurationOutput
	err = client.Do(ctx, func(c *s3.Client) error {
		var err error
		current, err = c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(ev.Bucket)})
		return err
	})
	if err != nil && dryRun && notImplemented(err) {
		// Nothing to keep on such a store: the dry run shows the
		// configuration on its own.
		fmt.Fprintf(a.io.Err, "the store does not keep notification configurations (%s); showing the configuration on its own\n", s3client.Code(err))
		current, err = nil, nil
	}
	if err != nil {
		return notificationError("read the notification configuration of bucket "+ev.Bucket, err)
	}
	plan, err := ev.PlanNotification(current, f.Name, targetARN)
	if err != nil {
		return usagef("--target-arn: %v", err)
	}
	fmt.Fprintf(a.io.Err, "bucket %s (connection %s):\n  %s\n", ev.Bucket, ev.Connection, strings.Join(plan.Lines(), "\n  "))
	in := &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(ev.Bucket), NotificationConfiguration: plan.Config}
	if dryRun {
		body, err := client.NotificationBody(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.io.Out, string(body))
		fmt.Fprintln(a.io.Err, "dry run: nothing written")
		return nil
	}
	if plan.Unchanged() {
		fmt.Fprintln(a.io.Err, "nothing to change")
		return nil
	}
	err = client.Do(ctx, func(c *s3.Client) error {
		_, err := c.PutBucketNotificationConfiguration(ctx, in)
		return err
	})
	if err != nil {
		return notificationError("write the notification configuration of bucket "+ev.Bucket, err)
	}
	fmt.Fprintf(a.io.Err, "notification configuration of bucket %s written (entry %s)\n", ev.Bucket, plan.ID)
	return nil
}

// notImplemented reports a store's answer that it has no bucket
// notification configurations.
func notImplemented(err error) bool {
	code := s3client.Code(err)
	return code == "NotImplemented" || code == "NotSupported"
}

// notificationError says what a store's refusal means; a store without
// notification configurations is told apart.
func notificationError(what string, err error) error {
	if notImplemented(err) {
		return fmt.Errorf("%s: the store does not take bucket notification configurations (%s): give it the events URL its own way "+
			"(versitygw: --event-webhook-url with the token of 's3flow trigger token'); --dry-run shows what would be written", what, s3client.Code(err))
	}
	return fmt.Errorf("%s: %w", what, s3client.Explain(err))
}
