// Package s3client builds AWS SDK S3 clients from s3flow connections: the
// endpoint, path style, checksum mode, retries, request logging without
// secrets, and one retry in the bucket's own region when S3 says it lives
// elsewhere.
package s3client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/netguard"
)

// DefaultRegion is used when neither the call nor the connection names one.
const DefaultRegion = connection.DefaultRegion

// Client is an S3 client for one connection, in one region by default,
// with clients for other regions made on demand.
type Client struct {
	conn   connection.Connection
	cfg    aws.Config
	logger *slog.Logger

	mu      sync.Mutex
	clients map[string]*s3.Client
}

// Options tune a Client.
type Options struct {
	// Logger receives one debug line per HTTP request; nil discards.
	Logger *slog.Logger
	// MaxAttempts bounds the SDK's standard retryer; 0 means the
	// connection's MaxAttempts, and when that is 0 too the SDK's default.
	MaxAttempts int
}

// New builds a client for conn in region ("" means the connection's).
// Its requests go only where the connection points: the region must pass
// connection.CheckRegion, the endpoint connection.CheckEndpoint, every
// address dialled the connection's netguard policy, and redirects are
// never followed.
func New(ctx context.Context, conn connection.Connection, region string, opts Options) (*Client, error) {
	if region == "" {
		region = conn.Region
	}
	if region == "" {
		region = DefaultRegion
	}
	if err := connection.CheckRegion(region); err != nil {
		return nil, err
	}
	if conn.Endpoint != "" {
		ep, err := connection.CheckEndpoint(conn.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("connection %q: %w", conn.Name, err)
		}
		conn.Endpoint = ep
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The buildable client, not a plain *http.Client: the SDK adds
	// AWS_CA_BUNDLE's roots to it and fails on a client it cannot build.
	// Credential providers (instance metadata, containers, SSO) keep this
	// unguarded client: their endpoints are the machine's configuration,
	// and instance roles live at the link-local address the guard refuses.
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithLogger(sdkLogger(logger)),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 64
			// A server that takes the whole request and never answers
			// would hold a run forever; after this long the request fails
			// as a timeout, which the SDK's retryer tries again. Bodies
			// are not bounded: a large part may take minutes to send.
			t.ResponseHeaderTimeout = responseTimeout()
		})),
	}
	if n := cmp.Or(opts.MaxAttempts, conn.MaxAttempts); n > 0 {
		loadOpts = append(loadOpts, config.WithRetryMaxAttempts(n))
	}
	if !conn.Kind.Creatable() && conn.Kind != connection.KindEnv && conn.Kind != connection.KindLocal {
		return nil, fmt.Errorf("connection %q has unknown kind %q", conn.Name, conn.Kind)
	}
	if conn.Kind == connection.KindEnv && conn.Endpoint == "" {
		// The default chain may name an S3-compatible endpoint; such stores
		// want path-style requests, and raw API calls must go there too.
		if ep := firstNonEmpty(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")); ep != "" {
			conn.Endpoint, conn.PathStyle = ep, true
		}
	}
	if conn.Kind == connection.KindLocal && conn.Endpoint == "" {
		return nil, fmt.Errorf("connection %q: the local endpoint is not running", conn.Name)
	}
	if ep := conn.Source.STSEndpoint; ep != "" {
		if _, err := connection.CheckEndpoint(ep); err != nil {
			return nil, fmt.Errorf("connection %q: STS endpoint: %w", conn.Name, err)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for connection %q: %w", conn.Name, err)
	}
	if cfg.HTTPClient, err = guardedClient(cfg.HTTPClient, policy(conn)); err != nil {
		return nil, fmt.Errorf("connection %q: %w", conn.Name, err)
	}
	// After the guard: STS requests (a role's) go through it too.
	if cfg.Credentials, err = credentialsFor(ctx, conn, cfg, logger, 0); err != nil {
		return nil, err
	}
	if conn.ChecksumMode == connection.ChecksumWhenRequired {
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(logRequests(logger), middleware.After)
	})
	if conn.Kind == connection.KindLocal {
		cfg.APIOptions = append(cfg.APIOptions, checkLocalKeys)
	}
	return &Client{conn: conn, cfg: cfg, logger: logger, clients: map[string]*s3.Client{}}, nil
}

// policy is where conn's requests may go. The local connection is the
// process's own endpoint on loopback, and the env connection is the
// machine's configuration (AWS_ENDPOINT_URL, profiles): no API client can
// point either elsewhere, so private addresses are theirs to use.
func policy(conn connection.Connection) netguard.Policy {
	trusted := conn.Kind == connection.KindLocal || conn.Kind == connection.KindEnv
	return netguard.Policy{AllowPrivate: conn.AllowPrivate || trusted}
}

// guardedClient is the HTTP client of S3 requests: the loaded one's
// transport (with AWS_CA_BUNDLE's roots in it), a dialer that checks every
// resolved address against p, and no redirects followed. The SDK would
// follow a 307 or 308 to any host with the signed request; S3 itself says
// where a bucket lives in the answer (x-amz-bucket-region), which Do and
// Send act on.
func guardedClient(loaded aws.HTTPClient, p netguard.Policy) (aws.HTTPClient, error) {
	b, ok := loaded.(*awshttp.BuildableClient)
	if !ok {
		return nil, fmt.Errorf("the AWS configuration holds an HTTP client of type %T, not the SDK's buildable one", loaded)
	}
	b = b.WithDialerOptions(func(d *net.Dialer) { d.Control = p.Control })
	return &http.Client{
		Transport:     b.GetTransport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// Region is the client's default region.
func (c *Client) Region() string { return c.cfg.Region }

// Connection is the connection the client was built from.
func (c *Client) Connection() connection.Connection { return c.conn }

// Loopback reports whether the connection's endpoint is on this machine
// (localhost, 127.0.0.0/8, ::1): no network between s3flow and the store.
func (c *Client) Loopback() bool {
	if c.conn.Endpoint == "" {
		return false
	}
	u, err := url.Parse(c.conn.Endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Config is the SDK configuration, for signing raw requests.
func (c *Client) Config() aws.Config { return c.cfg }

// S3 returns the SDK client for region ("" means the default).
func (c *Client) S3(region string) *s3.Client {
	if region == "" {
		region = c.cfg.Region
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[region]; ok {
		return cl
	}
	cl := s3.NewFromConfig(c.cfg, func(o *s3.Options) {
		o.Region = region
		o.UsePathStyle = c.conn.PathStyle
		// Objects stored without checksums are normal (older objects, most
		// S3-compatible stores); the SDK would log a line for each GET.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.EndpointResolverV2 = newEndpointCache(s3.NewDefaultEndpointResolverV2())
		if r, ok := o.Retryer.(aws.RetryerV2); ok {
			o.Retryer = retryCutBodies{r}
		}
		if c.conn.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.conn.Endpoint)
		}
	})
	c.clients[region] = cl
	return cl
}

// retryCutBodies is the SDK's retryer, which never retries a refused
// address and also retries an answer whose
// body ended before its Content-Length (a listing page cut short, say). The
// SDK retries a reset connection but takes such an early end for a bad
// answer and gives up at once.
type retryCutBodies struct{ aws.RetryerV2 }

func (r retryCutBodies) IsErrorRetryable(err error) bool {
	// An address the policy refuses stays refused: trying again only
	// waits out the backoff.
	if errors.Is(err, netguard.ErrRefused) {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || r.RetryerV2.IsErrorRetryable(err)
}

// Do runs call with the default region's client. When S3 answers that the
// bucket lives in another region, it runs call once more in that region.
func (c *Client) Do(ctx context.Context, call func(*s3.Client) error) error {
	err := call(c.S3(""))
	if region := BucketRegion(err); region != "" && region != c.cfg.Region {
		c.logger.DebugContext(ctx, "bucket is in another region; retrying there", "from", c.cfg.Region, "to", region)
		return call(c.S3(region))
	}
	return err
}

// BucketRegion returns the region S3 named in a wrong-region answer
// (x-amz-bucket-region on a 301 or a 400), or "" — also when the answer
// names something that is not a region: whoever answers may not choose
// the host of the next request.
func BucketRegion(err error) string {
	var re *smithyhttp.ResponseError
	if err == nil || !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	switch re.Response.StatusCode {
	case http.StatusMovedPermanently, http.StatusBadRequest, http.StatusForbidden:
		return headerRegion(re.Response.Header)
	}
	return ""
}

// headerRegion is x-amz-bucket-region when it is a region, else "".
func headerRegion(h http.Header) string {
	region := h.Get("X-Amz-Bucket-Region")
	if connection.CheckRegion(region) != nil {
		return ""
	}
	return region
}

// Endpoint returns the base URL requests for region go to.
func (c *Client) Endpoint(region string) (*url.URL, error) {
	if c.conn.Endpoint != "" {
		u, err := url.Parse(c.conn.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("connection %q: endpoint: %w", c.conn.Name, err)
		}
		return u, nil
	}
	if region == "" {
		region = c.cfg.Region
	}
	// The region becomes a host name label: nothing else may ride in.
	if err := connection.CheckRegion(region); err != nil {
		return nil, err
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return &url.URL{Scheme: "https", Host: "s3." + region + "." + domain}, nil
}

// logRequests logs method, host, path, status, request id and time of every
// HTTP attempt. Never headers or query strings: they carry signatures.
func logRequests(logger *slog.Logger) middleware.DeserializeMiddleware {
	return middleware.DeserializeMiddlewareFunc("s3flowLog", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		if !logger.Enabled(ctx, slog.LevelDebug) {
			return next.HandleDeserialize(ctx, in)
		}
		start := time.Now()
		out, md, err := next.HandleDeserialize(ctx, in)
		attrs := []any{"op", middleware.GetOperationName(ctx), "duration", time.Since(start).Round(time.Millisecond)}
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			attrs = append(attrs, "method", req.Method, "host", req.URL.Host, "path", req.URL.EscapedPath())
		}
		if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
			attrs = append(attrs, "status", resp.StatusCode, "requestId", resp.Header.Get("X-Amz-Request-Id"))
		}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		logger.DebugContext(ctx, "s3 request", attrs...)
		return out, md, err
	})
}

// ResponseTimeoutEnv names the variable that sets how long s3flow waits
// for a server to start answering a request (a Go duration; default
// DefaultResponseTimeout).
const ResponseTimeoutEnv = "S3FLOW_RESPONSE_TIMEOUT"

// DefaultResponseTimeout is generous: S3 answers CompleteMultipartUpload
// of a large object within a minute or two, with its headers first.
const DefaultResponseTimeout = 2 * time.Minute

func responseTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(ResponseTimeoutEnv)); err == nil && d > 0 {
		return d
	}
	return DefaultResponseTimeout
}
