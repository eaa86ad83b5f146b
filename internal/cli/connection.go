package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// connectionOutputs are the fields connection commands print.
var connectionOutputs = []module.Output{
	{Name: "name"}, {Name: "kind"}, {Name: "accessKeyId"}, {Name: "region"}, {Name: "endpoint"},
	{Name: "pathStyle"}, {Name: "checksum"}, {Name: "status"},
}

func connectionBundle(c connection.Connection) module.Bundle {
	b := module.Bundle{
		"name": c.Name, "kind": string(c.Kind), "accessKeyId": "", "region": c.Region,
		"endpoint": c.Endpoint, "pathStyle": c.PathStyle, "checksum": c.ChecksumMode, "status": c.VerifyStatus,
	}
	for name, v := range map[string]int{"maxAttempts": c.MaxAttempts, "partSizeMiB": c.PartSizeMiB, "parallelParts": c.ParallelParts} {
		if v != 0 {
			b[name] = int64(v)
		}
	}
	if c.AccessKeyID != "" {
		b["accessKeyId"] = c.MaskedKeyID()
	}
	if c.Kind == connection.KindLocal {
		b["endpoint"] = "(started on use)"
	}
	return b
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

// createOptions are the flags of "connection create".
type createOptions struct {
	name          string
	accessKeyID   string
	secretStdin   bool
	secretEnv     string
	tokenStdin    bool
	tokenEnv      string
	region        string
	endpoint      string
	pathStyle     bool
	checksum      string
	maxAttempts   int
	partSize      int
	parallelParts int
	noVerify      bool
	verifyTimeout time.Duration
	// provider names a preset; accountID fills its endpoint pattern.
	provider  string
	accountID string
	// regionGiven and pathStyleGiven say the user set those flags, which
	// then win over the preset.
	regionGiven    bool
	pathStyleGiven bool
}

func newConnectionCreateCmd(a *app) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a connection and verify it with a real signed call",
		Long: `Creates a connection. The secret access key is read from standard input
(--secret-access-key-stdin), from a variable (--secret-access-key-env NAME),
or, on a terminal, from a prompt without echo; never from a flag value.

The keys are verified with a real signed call unless --no-verify is given:
an unknown access key, a wrong secret and an unreachable endpoint are
refused; keys that are valid but may not list buckets are saved with a
warning.`,
		Example: `  printf '%s' "$SECRET" | s3flow connection create prod --access-key-id AKIA... --secret-access-key-stdin --region eu-central-1
  s3flow connection create minio --access-key-id minioadmin --secret-access-key-env MINIO_SECRET --endpoint http://127.0.0.1:9000 --path-style`,
		Args: exactName,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			o.regionGiven, o.pathStyleGiven = cmd.Flags().Changed("region"), cmd.Flags().Changed("path-style")
			return connectionCreate(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.accessKeyID, "access-key-id", "", "the access key id (required)")
	f.BoolVar(&o.secretStdin, "secret-access-key-stdin", false, "read the secret access key from standard input (first line)")
	f.StringVar(&o.secretEnv, "secret-access-key-env", "", "read the secret access key from this environment variable")
	f.BoolVar(&o.tokenStdin, "session-token-stdin", false, "read a session token from standard input (the line after the secret, if both)")
	f.StringVar(&o.tokenEnv, "session-token-env", "", "read a session token from this environment variable")
	f.StringVar(&o.region, "region", s3client.DefaultRegion, "default region of the modules that use this connection")
	f.StringVar(&o.endpoint, "endpoint", "", "URL of an S3-compatible store, e.g. http://127.0.0.1:9000 (default: AWS)")
	f.BoolVar(&o.pathStyle, "path-style", false, "put the bucket in the URL path (most S3-compatible stores need it)")
	f.StringVar(&o.checksum, "checksum", "", "request checksums: when-required or when-supported (default: when-required with --endpoint, else when-supported)")
	f.IntVar(&o.maxAttempts, "max-attempts", 0, "tries per request, retries included (0: AWS_MAX_ATTEMPTS or the SDK's 3)")
	f.IntVar(&o.partSize, "part-size", 0, "part size of large transfers in MiB (0: s3flow's default)")
	f.IntVar(&o.parallelParts, "parallel-parts", 0, "parts of a large transfer moved at once (0: s3flow's default)")
	f.BoolVar(&o.noVerify, "no-verify", false, "save without making a verification call")
	f.StringVar(&o.provider, "provider", "", "fill endpoint, path style, checksum mode and region from a preset ('s3flow connection providers' lists them)")
	f.StringVar(&o.accountID, "account-id", "", "account id, for providers whose endpoint names it (Cloudflare R2)")
	f.DurationVar(&o.verifyTimeout, "verify-timeout", 20*time.Second, "how long verification may take")
	return cmd
}

func connectionCreate(ctx context.Context, a *app, o *createOptions) error {
	if err := connection.ValidateName(o.name); err != nil {
		return &usageError{err}
	}
	if o.accessKeyID == "" {
		return usagef("--access-key-id is required")
	}
	if o.provider != "" {
		p, err := connection.LookupProvider(o.provider)
		if err != nil {
			return &usageError{err}
		}
		c := connection.Connection{Endpoint: o.endpoint, PathStyle: o.pathStyle, ChecksumMode: o.checksum}
		if o.regionGiven {
			c.Region = o.region
		}
		if err := p.Apply(&c, o.accountID, o.pathStyleGiven); err != nil {
			return &usageError{err}
		}
		o.endpoint, o.pathStyle, o.checksum, o.region = c.Endpoint, c.PathStyle, c.ChecksumMode, c.Region
	}
	// The same rules as POST /api/connections: one function each.
	if o.endpoint != "" {
		ep, err := connection.CheckEndpoint(o.endpoint)
		var ee *connection.EndpointError
		if errors.As(err, &ee) {
			return usagef("--endpoint %s", ee.Rule())
		} else if err != nil {
			return err
		}
		o.endpoint = ep
	}
	var re *connection.RegionError
	if err := connection.CheckRegion(o.region); errors.As(err, &re) {
		return usagef("--region %s", re.Rule())
	}
	if o.checksum == "" {
		o.checksum = connection.DefaultChecksumMode(o.endpoint)
	}
	if o.checksum != connection.ChecksumWhenRequired && o.checksum != connection.ChecksumWhenSupported {
		return usagef("--checksum must be when-required or when-supported, got %q", o.checksum)
	}
	switch {
	case o.maxAttempts < 0 || o.maxAttempts > 20:
		return usagef("--max-attempts must be from 1 to 20 (or 0 for the default), got %d", o.maxAttempts)
	case o.partSize != 0 && (o.partSize < 5 || o.partSize > 5<<10):
		return usagef("--part-size must be from 5 to 5120 MiB (or 0 for the default), got %d", o.partSize)
	case o.parallelParts < 0 || o.parallelParts > 64:
		return usagef("--parallel-parts must be from 1 to 64 (or 0 for the default), got %d", o.parallelParts)
	}
	secret, token, err := readSecrets(a.io, o)
	if err != nil {
		return err
	}
	conn := connection.Connection{
		Name: o.name, Kind: connection.KindKeys, AccessKeyID: o.accessKeyID,
		SecretAccessKey: connection.NewSecret(secret), SessionToken: connection.NewSecret(token),
		Region: o.region, Endpoint: o.endpoint, PathStyle: o.pathStyle, ChecksumMode: o.checksum,
		MaxAttempts: o.maxAttempts, PartSizeMiB: o.partSize, ParallelParts: o.parallelParts,
		VerifyStatus: "not verified (--no-verify)",
		// The machine's own user may point it anywhere but link-local.
		AllowPrivate: true,
	}
	st, err := a.connections(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Get(ctx, o.name); err == nil {
		return fmt.Errorf("create connection %q: %w; delete it first", o.name, connection.ErrExists)
	}
	if !o.noVerify {
		v, err := verify(ctx, a, conn, o.verifyTimeout)
		if err != nil {
			return fmt.Errorf("connection %q not saved: %w", o.name, err)
		}
		conn.VerifyStatus, conn.VerifiedAt = v.Status, time.Now().UTC()
		if v.Warning != "" {
			fmt.Fprintf(a.io.Err, "warning: %s\n", v.Warning)
		}
	}
	if err := st.Create(ctx, conn); err != nil {
		return err
	}
	fmt.Fprintf(a.io.Err, "connection %q saved (%s)\n", o.name, conn.VerifyStatus)
	return nil
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
			return printBundles(a, connectionOutputs, func(emit func(module.Bundle) error) error {
				for _, c := range conns {
					if err := emit(connectionBundle(c)); err != nil {
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
			outputs := append(append([]module.Output{}, connectionOutputs...), module.Output{Name: "sessionToken"}, module.Output{Name: "verifiedAt"}, module.Output{Name: "createdAt"})
			b := connectionBundle(c)
			b["sessionToken"] = !c.SessionToken.IsZero()
			b["verifiedAt"], b["createdAt"] = c.VerifiedAt, c.CreatedAt
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
				if conn.Kind == connection.KindKeys {
					_ = st.SetVerified(ctx, conn.Name, "failed: "+err.Error(), time.Now())
				}
				return fmt.Errorf("connection %q: %w", conn.Name, err)
			}
			if conn.Kind == connection.KindKeys {
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
	p, err := newPrinter(a.io.Out, a.outputFormat(), outputs)
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
