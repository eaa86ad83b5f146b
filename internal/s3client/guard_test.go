package s3client_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/netguard"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

func keysTo(endpoint string, allowPrivate bool) connection.Connection {
	return connection.Connection{
		Name: "guarded", Kind: connection.KindKeys, AccessKeyID: "AKIDGUARD", SecretAccessKey: connection.NewSecret("guard-secret"),
		Region: "us-east-1", Endpoint: endpoint, PathStyle: true, ChecksumMode: connection.ChecksumWhenRequired,
		AllowPrivate: allowPrivate,
	}
}

// TestGuardRefusesPrivateAddresses: with private addresses not allowed, a
// connection to 127.0.0.1 — by address, or by a name that resolves there —
// sends nothing, through the SDK and through a raw API call, and says why;
// allowed (or the local connection) it goes through.
func TestGuardRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv, n := s3test.CountingServer(t)
	u, _ := url.Parse(srv.URL)
	byName := "http://localhost:" + u.Port()
	for _, endpoint := range []string{srv.URL, byName} {
		c, err := s3client.New(t.Context(), keysTo(endpoint, false), "", s3client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.S3("").ListBuckets(t.Context(), &s3.ListBucketsInput{})
		if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), "--allow-private-endpoints") {
			t.Errorf("%s, SDK call: %v; want refused, naming the flag", endpoint, err)
		}
		_, err = c.Verify(t.Context())
		if !errors.Is(err, netguard.ErrRefused) || s3client.Code(err) != s3client.CodeRefused || errors.Is(err, s3client.ErrUnreachable) {
			t.Errorf("%s, Verify: %v (code %s); want refused, code %s", endpoint, err, s3client.Code(err), s3client.CodeRefused)
		}
		resp, err := c.Send(t.Context(), "", s3client.RawRequest{Method: "GET", Path: "/"})
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, netguard.ErrRefused) {
			t.Errorf("%s, raw call: %v; want refused", endpoint, err)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("the server got %d requests with private addresses refused, want 0", got)
	}

	for _, conn := range []connection.Connection{keysTo(byName, true), {
		Name: connection.LocalName, Kind: connection.KindLocal, AccessKeyID: "AKIDLOCAL",
		SecretAccessKey: connection.NewSecret("local-secret"), Region: "us-east-1", Endpoint: srv.URL, PathStyle: true,
	}} {
		before := n.Load()
		c, err := s3client.New(t.Context(), conn, "", s3client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.S3("").ListBuckets(t.Context(), &s3.ListBucketsInput{}); err != nil {
			t.Errorf("%s (allow private %v): %v", conn.Name, conn.AllowPrivate, err)
		}
		if n.Load() == before {
			t.Errorf("%s (allow private %v): no request arrived", conn.Name, conn.AllowPrivate)
		}
	}
}

// TestGuardRefusesMetadataEvenWhenPrivateAllowed: link-local addresses are
// never dialled, whatever the policy; the refusal comes at once, without
// the retryer's backoff, and names the reason.
func TestGuardRefusesMetadataEvenWhenPrivateAllowed(t *testing.T) {
	t.Parallel()
	for _, endpoint := range []string{"http://169.254.169.254", "http://[fd00:ec2::254]", "http://[::ffff:169.254.169.254]"} {
		c, err := s3client.New(t.Context(), keysTo(endpoint, true), "", s3client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.S3("").ListBuckets(t.Context(), &s3.ListBucketsInput{})
		if !errors.Is(err, netguard.ErrRefused) || strings.Contains(err.Error(), "--allow-private-endpoints") {
			t.Errorf("%s: %v; want refused for good", endpoint, err)
		}
		if strings.Contains(err.Error(), "retry quota") || strings.Contains(err.Error(), "max attempts") {
			t.Errorf("%s: %v; a refusal is not retried", endpoint, err)
		}
	}
}

// TestRedirectNotFollowed: an endpoint that answers 307 or 308 to another
// host does not get the signed request sent there, through the SDK or a
// raw call; the answer comes back as it is.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	other, n := s3test.CountingServer(t)
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.RequestURI(), status)
		}))
		t.Cleanup(redirector.Close)
		c, err := s3client.New(t.Context(), keysTo(redirector.URL, true), "", s3client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.S3("").ListBuckets(t.Context(), &s3.ListBucketsInput{}); err == nil {
			t.Errorf("%d: ListBuckets succeeded; want the redirect as an error", status)
		}
		resp, err := c.Send(t.Context(), "", s3client.RawRequest{Method: "PUT", Path: "/b/k", Body: strings.NewReader("x")})
		if err != nil {
			t.Fatalf("%d: raw call: %v", status, err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("raw call answered %d, want the %d itself", resp.StatusCode, status)
		}
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("the other host got %d requests, want 0", got)
	}
}

// TestRegionInjectionRefused: a region that would change the host of a
// request ("x@127.0.0.3:PORT/p?" pasted into https://s3.REGION.amazonaws.com
// named 127.0.0.3) is refused before any connection is made, wherever it
// comes from: the connection, the call, or an S3 answer.
func TestRegionInjectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.3: %v", err)
	}
	var accepted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	evil := "x@" + l.Addr().String() + "/p?"
	// AWS (no endpoint) and private addresses allowed: only the region
	// check stands between the request and 127.0.0.3.
	aws := keysTo("", true)

	bad := aws
	bad.Region = evil
	if _, err := s3client.New(t.Context(), bad, "", s3client.Options{}); !isRegionError(err) {
		t.Errorf("connection region %q: %v, want a region error", evil, err)
	}
	if _, err := s3client.Shared(t.Context(), aws, evil, s3client.Options{}); !isRegionError(err) {
		t.Errorf("call region %q: %v, want a region error", evil, err)
	}
	c, err := s3client.New(t.Context(), aws, "", s3client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), evil, s3client.RawRequest{Method: "GET", Path: "/"}); !isRegionError(err) {
		t.Errorf("raw call in region %q: %v, want a region error", evil, err)
	}
	if _, err := c.Endpoint(evil); !isRegionError(err) {
		t.Errorf("Endpoint(%q): %v, want a region error", evil, err)
	}
	l.Close()
	<-done
	if got := accepted.Load(); got != 0 {
		t.Fatalf("127.0.0.3 accepted %d connections, want 0", got)
	}
}

func isRegionError(err error) bool {
	var re *connection.RegionError
	return errors.As(err, &re)
}

// TestAnsweredRegionMustBeARegion: x-amz-bucket-region comes from whoever
// answers; one that is not a region is not followed (one request only).
func TestAnsweredRegionMustBeARegion(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, region string) {
		w.Header().Set("X-Amz-Bucket-Region", "x@127.0.0.3:8443/p?")
		writeError(w, http.StatusMovedPermanently, "PermanentRedirect")
	})
	c, err := s3client.New(t.Context(), f.conn(), "", s3client.Options{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Send(t.Context(), "", s3client.RawRequest{Method: "GET", Path: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	err = c.Do(t.Context(), func(cl *s3.Client) error {
		_, err := cl.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("b")})
		return err
	})
	if err == nil {
		t.Error("Do succeeded")
	}
	if got := f.seen(); len(got) != 2 {
		t.Errorf("the server saw requests signed for %q, want one by Send and one by Do", got)
	}
}

// TestRawURLKeepsTheHost: whatever a raw request's path holds, its URL
// goes to the endpoint's scheme and host.
func TestRawURLKeepsTheHost(t *testing.T) {
	t.Parallel()
	endpoint := &url.URL{Scheme: "http", Host: "s3.example:9000"}
	for _, p := range []string{"//evil.com/x", "/@evil.com/x", "http://evil.com/x", "@evil.com", "/..//evil.com", "/%2F%2Fevil.com", "\\\\evil.com\\x", "/b/k?x=1#f"} {
		r := s3client.RawRequest{Method: "GET", Path: p, Query: []s3client.QueryParam{{Name: "@evil.com", Value: "//evil.com"}}}
		u, err := r.URL(endpoint)
		if err != nil {
			t.Errorf("URL for path %q: %v", p, err)
			continue
		}
		again, err := url.Parse(u.String())
		if u.Scheme != "http" || u.Host != "s3.example:9000" || u.User != nil || err != nil || again.Host != "s3.example:9000" || again.User != nil {
			t.Errorf("path %q goes to %s", p, u)
		}
	}
}

// TestVerifyNeedsAnS3Answer: any web server may answer GET / with 200 or
// 403; only S3's documents (a bucket listing, AccessDenied) show that the
// keys were checked. A real listing still verifies.
func TestVerifyNeedsAnS3Answer(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusOK, http.StatusForbidden} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			w.Write([]byte("<html><body>an intranet page</body></html>"))
		}))
		t.Cleanup(srv.Close)
		if v, err := verify(t, keysTo(srv.URL, true)); err == nil {
			t.Errorf("a web page answering %d: Verify = %+v, want an error", status, v)
		}
	}
	s3srv, _ := s3test.CountingServer(t)
	if v, err := verify(t, keysTo(s3srv.URL, true)); err != nil || v.Status == "" {
		t.Errorf("a bucket listing: Verify = %+v, %v; want verified", v, err)
	}
}
