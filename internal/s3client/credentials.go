package s3client

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
)

// NoCredentialsError is the failure of the SDK's credential chain (the env
// connection): what the user can set, not the chain's last attempt (the
// instance metadata service, which is rarely what they meant). Err is the
// SDK's own error, logged at debug.
type NoCredentialsError struct {
	Connection string
	Err        error
	// Configured is true when the environment names a source (a profile,
	// a role, keys), whose own failure is then worth showing.
	Configured bool
}

func (e *NoCredentialsError) Error() string {
	msg := fmt.Sprintf("no AWS credentials found for connection %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "+
		"(or a profile with AWS_PROFILE, or a role), or use a connection made with 's3flow connection create'", e.Connection)
	if e.Configured {
		msg += fmt.Sprintf(" (the SDK said: %v)", e.Err)
	}
	return msg
}

func (e *NoCredentialsError) Unwrap() error { return e.Err }

// credentialSources are the variables that point the SDK's chain at a
// source of credentials.
var credentialSources = []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"}

// chainCredentials names the connection in the chain's failure.
type chainCredentials struct {
	chain      aws.CredentialsProvider
	connection string
	logger     *slog.Logger
}

func (c chainCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.chain.Retrieve(ctx)
	if err == nil || ctx.Err() != nil {
		return creds, err
	}
	c.logger.Debug("AWS credential chain failed", "connection", c.connection, "err", err)
	configured := false
	for _, name := range credentialSources {
		if os.Getenv(name) != "" {
			configured = true
		}
	}
	return creds, &NoCredentialsError{Connection: c.connection, Err: err, Configured: configured}
}

// sdkLogger sends what the SDK logs (an "SDK WARN" line when the instance
// metadata service falls back to IMDSv1, say) to logger at debug level:
// s3flow reports failures itself, once, and the SDK's default logger
// writes to stderr.
func sdkLogger(logger *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		logger.Debug("AWS SDK: "+fmt.Sprintf(format, v...), "level", string(c))
	})
}
