package s3client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/s3flow/s3flow/internal/connection"
)

// RefreshBefore is how long before they expire temporary credentials
// (an assumed role's, a profile's) are fetched again: long enough that a
// request signed just before never reaches S3 with credentials that have
// run out, however long its body takes to start.
const RefreshBefore = 5 * time.Minute

// The steps of getting a connection's credentials, as errors name them.
const (
	StepSource  = "getting the source credentials"
	StepRole    = "assuming the role"
	StepListing = "listing buckets"
)

// CredentialsError is a failure to get a connection's credentials, with
// the step that failed: the source's (keys of another connection, the
// default chain, a profile, a token file) or the role's assumption.
type CredentialsError struct {
	Connection string
	Step       string
	Err        error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("%s failed: %v", e.Step, explainCredentials(e.Err))
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// explainCredentials keeps STS's own code and message and drops the SDK's
// wrapping ("operation error STS: AssumeRole, https response error ...").
func explainCredentials(err error) error {
	var noCreds *NoCredentialsError
	if errors.As(err, &noCreds) {
		return noCreds
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("STS answered %s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	return err
}

// stepCredentials names the step of its provider's failures, unless a
// step inside it failed first (a role's source, while signing the role's
// AssumeRole).
type stepCredentials struct {
	connection, step string
	provider         aws.CredentialsProvider
}

func (s stepCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := s.provider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		var inner *CredentialsError
		var apiErr smithy.APIError
		switch {
		case errors.As(err, &inner):
			err = inner
		case s.step == StepRole && errors.As(err, &apiErr) && signerCodes[apiErr.ErrorCode()]:
			// STS refused the signature of the role's request: the keys
			// that signed it, the source, are what to fix.
			err = &CredentialsError{Connection: s.connection, Step: StepSource, Err: err}
		default:
			err = &CredentialsError{Connection: s.connection, Step: s.step, Err: err}
		}
	}
	return creds, err
}

// signerCodes are STS's answers about the credentials that signed a
// request rather than about the role.
var signerCodes = map[string]bool{"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "ExpiredToken": true,
	"InvalidAccessKeyId": true, "IncompleteSignature": true}

// credentialsFor builds the provider of conn's credentials. cfg is the
// loaded configuration: its HTTP client (guarded by conn's policy) and
// retryer carry STS requests, and its Credentials are the default chain
// when conn holds no keys.
func credentialsFor(ctx context.Context, conn connection.Connection, cfg aws.Config, logger *slog.Logger, depth int) (aws.CredentialsProvider, error) {
	if depth > connection.MaxSourceDepth {
		return nil, fmt.Errorf("connection %q: the chain of source connections is longer than %d", conn.Name, connection.MaxSourceDepth)
	}
	switch conn.Kind {
	case connection.KindKeys, connection.KindLocal:
		return credentials.NewStaticCredentialsProvider(conn.AccessKeyID, conn.SecretAccessKey.Reveal(), conn.SessionToken.Reveal()), nil
	case connection.KindEnv:
		chain, err := defaultChain(ctx, cfg)
		if err != nil {
			return nil, &CredentialsError{Connection: conn.Name, Step: StepSource, Err: err}
		}
		return chainCredentials{chain: chain, connection: conn.Name, logger: logger}, nil
	case connection.KindProfile:
		// Read when used, not copied: SSO caches, credential_process and
		// role_arn/source_profile stay the shared config's business.
		pcfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(conn.Source.Profile),
			config.WithRegion(cfg.Region), config.WithHTTPClient(awshttp.NewBuildableClient()), config.WithLogger(sdkLogger(logger)))
		if err != nil {
			return nil, &CredentialsError{Connection: conn.Name, Step: StepSource, Err: fmt.Errorf("profile %q: %w", conn.Source.Profile, err)}
		}
		return stepCredentials{conn.Name, StepSource, pcfg.Credentials}, nil
	case connection.KindRole:
		var source aws.CredentialsProvider
		switch {
		case conn.AccessKeyID != "":
			source = credentials.NewStaticCredentialsProvider(conn.AccessKeyID, conn.SecretAccessKey.Reveal(), conn.SessionToken.Reveal())
		case conn.SourceConn != nil:
			p, err := credentialsFor(ctx, *conn.SourceConn, cfg, logger, depth+1)
			if err != nil {
				return nil, &CredentialsError{Connection: conn.Name, Step: StepSource, Err: err}
			}
			source = p
		case conn.Source.SourceConnection != "":
			return nil, fmt.Errorf("connection %q: source connection %q was not read", conn.Name, conn.Source.SourceConnection)
		default:
			chain, err := defaultChain(ctx, cfg)
			if err != nil {
				return nil, &CredentialsError{Connection: conn.Name, Step: StepSource, Err: err}
			}
			source = chainCredentials{chain: chain, connection: conn.Name, logger: logger}
		}
		client := stsClient(cfg, conn, stepCredentials{conn.Name, StepSource, source})
		role := stscreds.NewAssumeRoleProvider(client, conn.Source.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = conn.SessionName()
			o.Duration = conn.Source.Duration()
			if !conn.ExternalID.IsZero() {
				o.ExternalID = aws.String(conn.ExternalID.Reveal())
			}
		})
		return cached(stepCredentials{conn.Name, StepRole, role}), nil
	case connection.KindWebIdentity:
		// AssumeRoleWithWebIdentity is not signed: the token is the proof.
		client := stsClient(cfg, conn, nil)
		role := stscreds.NewWebIdentityRoleProvider(client, conn.Source.RoleARN,
			tokenFile{conn.Name, conn.Source.WebIdentityTokenFile}, func(o *stscreds.WebIdentityRoleOptions) {
				o.RoleSessionName = conn.SessionName()
				o.Duration = conn.Source.Duration()
			})
		return cached(stepCredentials{conn.Name, StepRole, role}), nil
	}
	return nil, fmt.Errorf("connection %q has unknown kind %q", conn.Name, conn.Kind)
}

// tokenFile reads a web identity token at each refresh (Kubernetes
// rotates it); a token it cannot read is the source's failure.
type tokenFile struct{ connection, path string }

func (f tokenFile) GetIdentityToken() ([]byte, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, &CredentialsError{Connection: f.connection, Step: StepSource, Err: fmt.Errorf("read the web identity token: %w", err)}
	}
	return b, nil
}

// cached refreshes p's credentials RefreshBefore they expire, once for
// every request waiting on them: the SDK's cache, never by hand.
func cached(p aws.CredentialsProvider) aws.CredentialsProvider {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = RefreshBefore })
}

// stsClient reaches the STS endpoint of conn (its own, or its S3
// endpoint's, or AWS's regional one) through cfg's guarded HTTP client.
func stsClient(cfg aws.Config, conn connection.Connection, creds aws.CredentialsProvider) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Credentials = creds
		if ep := conn.STSEndpoint(); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
}

// defaultChain is the AWS SDK's default credential chain: what
// LoadDefaultConfig found when it was given no keys.
func defaultChain(ctx context.Context, cfg aws.Config) (aws.CredentialsProvider, error) {
	if cfg.Credentials != nil {
		return cfg.Credentials, nil
	}
	loaded, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region), config.WithHTTPClient(awshttp.NewBuildableClient()))
	if err != nil {
		return nil, err
	}
	if loaded.Credentials == nil {
		return nil, errors.New("the default credential chain found no source")
	}
	return loaded.Credentials, nil
}
