package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// summaryOutputs are the fields of connection.Summary, in its order: list
// and show print the one view the API and the Studio show.
var summaryOutputs, _ = summaryBundle(connection.Connection{})

// summaryBundle is a connection's Summary as the printer takes it: its
// JSON fields by their JSON names, those its tags omit left out.
func summaryBundle(c connection.Connection) ([]module.Output, module.Bundle) {
	var outs []module.Output
	b := module.Bundle{}
	v := reflect.ValueOf(c.Summary())
	for i := range v.NumField() {
		name, opts, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		outs = append(outs, module.Output{Name: name})
		f := v.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				continue
			}
			f = f.Elem()
		}
		if opts == "omitempty" && f.IsZero() {
			continue
		}
		b[name] = f.Interface()
	}
	return outs, b
}

func newConnectionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connection",
		Aliases: []string{"connections"},
		Short:   "Create, list, show, verify and delete connections",
		Long: `A connection holds an access key id and secret access key (stored encrypted),
a default region and, for S3-compatible stores, an endpoint.
Two always exist: "local" (the embedded endpoint) and "env" (the AWS SDK's
default credential chain: AWS_* variables, shared config and profiles).`,
	}
	cmd.AddCommand(newConnectionCreateCmd(a), newConnectionListCmd(a), newConnectionShowCmd(a),
		newConnectionVerifyCmd(a), newConnectionDeleteCmd(a), newConnectionProvidersCmd(a))
	return cmd
}

// createOptions are the flags of "connection create". What describes the
// connection goes straight into a connection.Spec, the same value the API
// decodes its body into; the rest says where the secrets come from and
// whether to verify.
type createOptions struct {
	spec          connection.Spec
	secretStdin   bool
	secretEnv     string
	tokenStdin    bool
	tokenEnv      string
	externalIDEnv string
	duration      time.Duration
	noVerify      bool
	verifyTimeout time.Duration
	// flagOf names the flag that sets each field of the spec, so that a
	// problem with a field names the flag the user typed.
	flagOf map[string]string
}

func newConnectionCreateCmd(a *app) *cobra.Command {
	o := &createOptions{flagOf: map[string]string{}}
	var region string
	var pathStyle bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a connection and verify it with a real signed call",
		Long: `Creates a connection. The secret access key is read from standard input
(--secret-access-key-stdin), from a variable (--secret-access-key-env NAME),
or, on a terminal, from a prompt without echo; never from a flag value.

Instead of keys of its own, a connection can get short-lived credentials
when it is used, refreshed before they expire:
  --role-arn ARN              assume a role (STS AssumeRole) with the access
                              keys given, with --source-connection's
                              credentials, or with the default chain's;
                              --external-id-env, --role-session-name,
                              --duration (15m to 12h) and --sts-endpoint
                              (default: the connection's --endpoint, where
                              MinIO and Ceph serve STS, else AWS) tune it
  --web-identity-token-file   with --role-arn: AssumeRoleWithWebIdentity with
                              the token in that file, read at each refresh
  --profile NAME              a profile of the shared AWS config (SSO,
                              credential_process, role_arn/source_profile),
                              read when used, never copied

The connection is verified with real calls unless --no-verify is given:
the source credentials, the role's assumption and a bucket listing, and
a failure names the step. An unknown access key, a wrong secret and an
unreachable endpoint are refused; credentials that are valid but may not
list buckets are saved with a warning.`,
		Example: `  printf '%s' "$SECRET" | s3flow connection create prod --access-key-id AKIA... --secret-access-key-stdin --region eu-central-1
  s3flow connection create minio --access-key-id minioadmin --secret-access-key-env MINIO_SECRET --endpoint http://127.0.0.1:9000 --path-style
  s3flow connection create prod-role --source-connection prod --role-arn arn:aws:iam::123456789012:role/s3flow --external-id-env EXTERNAL_ID --duration 1h
  s3flow connection create sso --profile sso-prod --region eu-central-1`,
		Args: exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.spec.Name = args[0]
			// Flags the user left alone leave the field empty, for the
			// provider's preset (or the default) to fill.
			if cmd.Flags().Changed("region") {
				o.spec.Region = region
			}
			if cmd.Flags().Changed("path-style") {
				o.spec.PathStyle = &pathStyle
			}
			return connectionCreate(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	field := func(field, flag string) { o.flagOf[field] = "--" + flag }
	f.StringVar(&o.spec.AccessKeyID, "access-key-id", "", "the access key id (required)")
	field(connection.FieldAccessKeyID, "access-key-id")
	f.BoolVar(&o.secretStdin, "secret-access-key-stdin", false, "read the secret access key from standard input (first line)")
	f.StringVar(&o.secretEnv, "secret-access-key-env", "", "read the secret access key from this environment variable")
	f.BoolVar(&o.tokenStdin, "session-token-stdin", false, "read a session token from standard input (the line after the secret, if both)")
	f.StringVar(&o.tokenEnv, "session-token-env", "", "read a session token from this environment variable")
	f.StringVar(&o.spec.RoleARN, "role-arn", "", "assume this role (STS AssumeRole; with --web-identity-token-file, AssumeRoleWithWebIdentity)")
	field(connection.FieldRoleARN, "role-arn")
	f.StringVar(&o.spec.SourceConnection, "source-connection", "", "assume the role with this connection's credentials (default: the access keys given, else the default chain)")
	field(connection.FieldSourceConnection, "source-connection")
	f.StringVar(&o.externalIDEnv, "external-id-env", "", "read the role's external id from this environment variable")
	field(connection.FieldExternalID, "external-id-env")
	f.StringVar(&o.spec.RoleSessionName, "role-session-name", "", "the role session name STS records (default: s3flow-NAME)")
	field(connection.FieldRoleSessionName, "role-session-name")
	f.DurationVar(&o.duration, "duration", 0, "how long each set of role credentials lasts, 15m to 12h (default 1h)")
	field(connection.FieldDuration, "duration")
	f.StringVar(&o.spec.STSEndpoint, "sts-endpoint", "", "URL of the STS service that assumes the role (default: --endpoint if given, else AWS)")
	field(connection.FieldSTSEndpoint, "sts-endpoint")
	f.StringVar(&o.spec.WebIdentityTokenFile, "web-identity-token-file", "", "with --role-arn: assume the role with the web identity token in this file")
	field(connection.FieldWebIdentityTokenFile, "web-identity-token-file")
	f.StringVar(&o.spec.Profile, "profile", "", "use this profile of the shared AWS config (SSO, credential_process, role_arn/source_profile)")
	field(connection.FieldProfile, "profile")
	f.StringVar(&region, "region", connection.DefaultRegion, "default region of the modules that use this connection (default with --provider: its region)")
	field(connection.FieldRegion, "region")
	f.StringVar(&o.spec.Endpoint, "endpoint", "", "URL of an S3-compatible store, e.g. http://127.0.0.1:9000 (default: AWS)")
	field(connection.FieldEndpoint, "endpoint")
	f.BoolVar(&pathStyle, "path-style", false, "put the bucket in the URL path (most S3-compatible stores need it)")
	field(connection.FieldPathStyle, "path-style")
	f.StringVar(&o.spec.Checksum, "checksum", "", "request checksums: when-required or when-supported (default: when-required with --endpoint, else when-supported)")
	field(connection.FieldChecksum, "checksum")
	f.IntVar(&o.spec.MaxAttempts, "max-attempts", 0, "tries per request, retries included (0: AWS_MAX_ATTEMPTS or the SDK's 3)")
	field(connection.FieldMaxAttempts, "max-attempts")
	f.IntVar(&o.spec.PartSizeMiB, "part-size", 0, "part size of large transfers in MiB (0: s3flow's default)")
	field(connection.FieldPartSizeMiB, "part-size")
	f.IntVar(&o.spec.ParallelParts, "parallel-parts", 0, "parts of a large transfer moved at once (0: s3flow's default)")
	field(connection.FieldParallelParts, "parallel-parts")
	f.BoolVar(&o.noVerify, "no-verify", false, "save without making a verification call")
	f.StringVar(&o.spec.Provider, "provider", "", "fill endpoint, path style, checksum mode and region from a preset ('s3flow connection providers' lists them)")
	field(connection.FieldProvider, "provider")
	f.StringVar(&o.spec.AccountID, "account-id", "", "account id, for providers whose endpoint names it (Cloudflare R2)")
	field(connection.FieldAccountID, "account-id")
	f.DurationVar(&o.verifyTimeout, "verify-timeout", 20*time.Second, "how long verification may take")
	return cmd
}

func connectionCreate(ctx context.Context, a *app, o *createOptions) error {
	if o.duration%time.Second != 0 {
		return usagef("--duration must be whole seconds, got %s", o.duration)
	}
	o.spec.DurationSeconds = int(o.duration / time.Second)
	if o.externalIDEnv != "" {
		id := os.Getenv(o.externalIDEnv)
		if id == "" {
			return usagef("--external-id-env: $%s is empty", o.externalIDEnv)
		}
		o.spec.ExternalID = connection.NewSecret(id)
	}
	// A role may be assumed with keys of its own; other kinds hold none.
	holdsKeys := o.spec.Kind() == connection.KindKeys || o.spec.AccessKeyID != ""
	// The flags are checked before a secret is asked for; the secrets are
	// checked by readSecrets, so the spec gets a placeholder for them here.
	check := o.spec
	if holdsKeys {
		check.SecretAccessKey = connection.NewSecret("-")
	}
	if _, err := check.Build(); err != nil {
		return o.usage(err)
	}
	if holdsKeys {
		secret, token, err := readSecrets(a.io, o)
		if err != nil {
			return err
		}
		o.spec.SecretAccessKey, o.spec.SessionToken = connection.NewSecret(secret), connection.NewSecret(token)
	} else if o.secretStdin || o.secretEnv != "" || o.tokenStdin || o.tokenEnv != "" {
		return usagef("a %s connection holds no secret access key or session token of its own", o.spec.Kind())
	}
	conn, err := o.spec.Build()
	if err != nil {
		return o.usage(err)
	}
	conn.VerifyStatus = "not verified (--no-verify)"
	// The machine's own user may point it anywhere but link-local.
	conn.AllowPrivate = true
	st, err := a.connections(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Get(ctx, conn.Name); err == nil {
		return fmt.Errorf("create connection %q: %w; delete it first", conn.Name, connection.ErrExists)
	}
	if err := st.ResolveSource(ctx, &conn); err != nil {
		return usagef("--source-connection: %v", err)
	}
	if !o.noVerify {
		v, err := verify(ctx, a, conn, o.verifyTimeout)
		if err != nil {
			return fmt.Errorf("connection %q not saved: %w", conn.Name, err)
		}
		conn.VerifyStatus, conn.VerifiedAt = v.Status, time.Now().UTC()
		if v.Warning != "" {
			fmt.Fprintf(a.io.Err, "warning: %s\n", v.Warning)
		}
	}
	if err := st.Create(ctx, conn); err != nil {
		return err
	}
	fmt.Fprintf(a.io.Err, "connection %q saved (%s)\n", conn.Name, conn.VerifyStatus)
	return nil
}

// usage words connection.Validate's problems for the command line: each
// names the flag that sets its field ("--part-size must be ..."), around
// the rule's own words, which the API gives too. The name is an argument,
// not a flag: its rule names it already.
func (o *createOptions) usage(err error) error {
	var ps connection.Problems
	if !errors.As(err, &ps) {
		return err
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		switch flag, ok := o.flagOf[p.Field]; {
		case ok:
			lines[i] = flag + " " + p.Rule
		case p.Field == connection.FieldName && p.Rule != "is required":
			lines[i] = p.Rule
		default:
			lines[i] = p.Error()
		}
	}
	return usagef("%s", strings.Join(lines, "\n"))
}

// readSecrets takes the secret and token from stdin, variables, or a
// terminal prompt; never from flag values.
func readSecrets(io_ *IOStreams, o *createOptions) (secret, token string, err error) {
	var lines *bufio.Reader
	readLine := func(what string) (string, error) {
		if lines == nil {
			lines = bufio.NewReader(io_.In)
		}
		line, err := lines.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the %s from standard input: %w", what, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", usagef("standard input holds no %s", what)
		}
		return line, nil
	}
	switch {
	case o.secretStdin && o.secretEnv != "":
		return "", "", usagef("give the secret with --secret-access-key-stdin or --secret-access-key-env, not both")
	case o.secretStdin:
		secret, err = readLine("secret access key")
	case o.secretEnv != "":
		secret = os.Getenv(o.secretEnv)
		if secret == "" {
			return "", "", usagef("--secret-access-key-env: $%s is empty", o.secretEnv)
		}
	case io_.InTTY:
		secret, err = io_.readPassword("Secret access key: ")
	default:
		return "", "", usagef("give the secret access key on standard input with --secret-access-key-stdin (or --secret-access-key-env NAME)")
	}
	if err != nil {
		return "", "", err
	}
	switch {
	case o.tokenStdin && o.tokenEnv != "":
		return "", "", usagef("give the session token with --session-token-stdin or --session-token-env, not both")
	case o.tokenStdin:
		token, err = readLine("session token")
	case o.tokenEnv != "":
		token = os.Getenv(o.tokenEnv)
		if token == "" {
			return "", "", usagef("--session-token-env: $%s is empty", o.tokenEnv)
		}
	}
	return strings.TrimSpace(secret), strings.TrimSpace(token), err
}

func verify(ctx context.Context, a *app, conn connection.Connection, timeout time.Duration) (s3client.Verified, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := s3client.New(ctx, conn, "", s3client.Options{Logger: a.logger(), MaxAttempts: 2})
	if err != nil {
		return s3client.Verified{}, err
	}
	return c.Verify(ctx)
}

func newConnectionListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List connections (secrets are never shown)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			conns, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			return printBundles(a, summaryOutputs, func(emit func(module.Bundle) error) error {
				for _, c := range conns {
					_, b := summaryBundle(c)
					if err := emit(b); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func newConnectionShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show one connection; the key id is masked and the secret never shown",
		Args:  exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			c, err := st.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			outputs, b := summaryBundle(c)
			return printBundles(a, outputs, func(emit func(module.Bundle) error) error { return emit(b) })
		},
	}
}

func newConnectionVerifyCmd(a *app) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify NAME",
		Short: "Check a connection again with a real signed call",
		Args:  exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			conn, err := a.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			v, err := verify(ctx, a, conn, timeout)
			st, _ := a.connections(ctx)
			if err != nil {
				if conn.Kind.Creatable() {
					_ = st.SetVerified(ctx, conn.Name, "failed: "+err.Error(), time.Now())
				}
				return fmt.Errorf("connection %q: %w", conn.Name, err)
			}
			if conn.Kind.Creatable() {
				if err := st.SetVerified(ctx, conn.Name, v.Status, time.Now()); err != nil {
					return err
				}
			}
			if v.Warning != "" {
				fmt.Fprintf(a.io.Err, "warning: %s\n", v.Warning)
			}
			fmt.Fprintf(a.io.Err, "connection %q: %s\n", conn.Name, v.Status)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Second, "how long verification may take")
	return cmd
}

func newConnectionDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a connection",
		Args:  exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == connection.EnvName || args[0] == connection.LocalName {
				return usagef("connection %q always exists and cannot be deleted", args[0])
			}
			st, err := a.connections(cmd.Context())
			if err != nil {
				return err
			}
			if err := st.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Err, "connection %q deleted\n", args[0])
			return nil
		},
	}
}

// printBundles prints what produce emits in the chosen format.
func printBundles(a *app, outputs []module.Output, produce func(emit func(module.Bundle) error) error) error {
	p, err := newPrinter(a.io.Out, a.outputFormat(), outputs, false)
	if err != nil {
		return err
	}
	return errors.Join(produce(p.Print), p.Close())
}

func newConnectionProvidersCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "providers",
		Short: "List the provider presets for 'connection create --provider'",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := connection.Providers()
			if err != nil {
				return err
			}
			outputs := []module.Output{{Name: "name"}, {Name: "title"}, {Name: "endpoint"}, {Name: "pathStyle"}, {Name: "checksum"}, {Name: "region"}, {Name: "notes"}}
			return printBundles(a, outputs, func(emit func(module.Bundle) error) error {
				for _, p := range ps {
					if err := emit(module.Bundle{"name": p.Name, "title": p.Title, "endpoint": p.Endpoint, "pathStyle": p.PathStyle,
						"checksum": p.Checksum, "region": p.DefaultRegion, "notes": p.Notes}); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}
