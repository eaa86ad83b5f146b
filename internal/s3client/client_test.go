package s3client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

var scopeRegion = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request`)

// fake is an httptest server standing in for S3, for answers a real
// server will not give on demand. It records the signing region of every
// request.
type fake struct {
	srv     *httptest.Server
	mu      sync.Mutex
	regions []string
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, region string)) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		region := ""
		if m := scopeRegion.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			region = m[1]
		}
		f.mu.Lock()
		f.regions = append(f.regions, region)
		f.mu.Unlock()
		answer(w, r, region)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// seen returns the signing regions of the requests so far, in order.
func (f *fake) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.regions...)
}

func (f *fake) conn() connection.Connection {
	return connection.Connection{
		Name: "fake", Kind: connection.KindKeys,
		AccessKeyID: "AKIDFAKE", SecretAccessKey: connection.NewSecret("fake-secret"),
		Region: "us-east-1", Endpoint: f.srv.URL, PathStyle: true, ChecksumMode: connection.ChecksumWhenRequired,
		AllowPrivate: true, // the fake runs on 127.0.0.1
	}
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", "FAKEREQ123")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>fake `+code+`</Message><RequestId>FAKEREQ123</RequestId></Error>`)
}

const euListing = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>demo</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><Contents><Key>in-eu.txt</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`

// bucketInEU answers like S3 for a bucket in eu-west-1: a request signed
// for any other region gets status with code and x-amz-bucket-region.
func bucketInEU(status int, code string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, region string) {
		if region == "eu-west-1" {
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, euListing)
			return
		}
		w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
		writeError(w, status, code)
	}
}

func TestRegionRedirect(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{
		{http.StatusMovedPermanently, "PermanentRedirect"},
		{http.StatusBadRequest, "AuthorizationHeaderMalformed"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			t.Run("list-files", func(t *testing.T) {
				t.Parallel()
				f := newFake(t, bucketInEU(tc.status, tc.code))
				conn := f.conn()
				in, err := s3mod.ListFiles.Check(map[string]any{"bucket": "demo"})
				if err != nil {
					t.Fatal(err)
				}
				var keys []any
				err = s3mod.ListFiles.Run(context.Background(), module.Env{Connection: &conn}, in, func(b module.Bundle) error {
					keys = append(keys, b["key"])
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != 1 || keys[0] != "in-eu.txt" {
					t.Errorf("keys %v, want [in-eu.txt]", keys)
				}
				if got, want := f.seen(), []string{"us-east-1", "eu-west-1"}; !slices.Equal(got, want) {
					t.Errorf("requests signed for %q, want %q", got, want)
				}
			})
			t.Run("api-call", func(t *testing.T) {
				t.Parallel()
				f := newFake(t, bucketInEU(tc.status, tc.code))
				c, err := s3client.New(context.Background(), f.conn(), "", s3client.Options{})
				if err != nil {
					t.Fatal(err)
				}
				resp, err := c.Send(context.Background(), "", s3client.RawRequest{Method: "GET", Path: "/demo", Query: []s3client.QueryParam{{Name: "list-type", Value: "2"}}})
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), "in-eu.txt") {
					t.Errorf("answer %d %s, want 200 and the listing", resp.StatusCode, body)
				}
				if got, want := f.seen(), []string{"us-east-1", "eu-west-1"}; !slices.Equal(got, want) {
					t.Errorf("requests signed for %q, want %q", got, want)
				}
			})
		})
	}
}

// TestExplainWrongRegion: the error of a wrong-region answer, explained,
// names the bucket's region on its own.
func TestExplainWrongRegion(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
		writeError(w, http.StatusMovedPermanently, "PermanentRedirect")
	})
	c, err := s3client.New(context.Background(), f.conn(), "", s3client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.S3("").ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("demo")})
	if got := s3client.BucketRegion(err); got != "eu-west-1" {
		t.Errorf("BucketRegion = %q, want eu-west-1", got)
	}
	explained := s3client.Explain(err)
	var e *s3client.Error
	if !errors.As(explained, &e) || e.Code != "PermanentRedirect" || e.Status != 301 {
		t.Fatalf("Explain = %#v, want code PermanentRedirect, status 301", explained)
	}
	if msg := explained.Error(); !strings.Contains(msg, "--region eu-west-1") || strings.Contains(msg, "\n") {
		t.Errorf("Explain says %q, want one line naming --region eu-west-1", msg)
	}
	if len(f.seen()) != 1 {
		t.Errorf("the SDK client alone made %d requests, want 1 (only Do retries)", len(f.seen()))
	}
}

// closedPort returns the address of a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// unknownKeyCodes are the codes S3 servers answer an unknown access key
// id with: AWS and most servers say InvalidAccessKeyId, versitygw says
// XAdminUserNotFound.
var unknownKeyCodes = []string{"InvalidAccessKeyId", "XAdminUserNotFound"}

func verify(t *testing.T, conn connection.Connection) (s3client.Verified, error) {
	t.Helper()
	c, err := s3client.New(context.Background(), conn, "", s3client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Verify(context.Background())
}

func TestVerify(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			v, err := verify(t, tg.Conn)
			if err != nil || v.Status == "" || v.Warning != "" {
				t.Errorf("right keys: %+v, %v; want a status, no warning, no error", v, err)
			}

			wrongKey := tg.Conn
			wrongKey.AccessKeyID = "NOSUCHKEY" + strings.Repeat("X", 11)
			_, err = verify(t, wrongKey)
			if code := s3client.Code(err); !errors.Is(err, s3client.ErrUnknownKey) || !slices.Contains(unknownKeyCodes, code) || !strings.Contains(err.Error(), code) {
				t.Errorf("wrong key id: %v, want ErrUnknownKey showing one of the codes %q", err, unknownKeyCodes)
			}
			if errors.Is(err, s3client.ErrWrongSecret) || errors.Is(err, s3client.ErrUnreachable) {
				t.Errorf("wrong key id: %v also matches another failure", err)
			}

			wrongSecret := tg.Conn
			wrongSecret.SecretAccessKey = connection.NewSecret(tg.Conn.SecretAccessKey.Reveal() + "x")
			_, err = verify(t, wrongSecret)
			if !errors.Is(err, s3client.ErrWrongSecret) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
				t.Errorf("wrong secret: %v, want ErrWrongSecret showing SignatureDoesNotMatch", err)
			}
			if errors.Is(err, s3client.ErrUnknownKey) || errors.Is(err, s3client.ErrUnreachable) {
				t.Errorf("wrong secret: %v also matches another failure", err)
			}
			if strings.Contains(err.Error(), wrongSecret.SecretAccessKey.Reveal()) {
				t.Errorf("wrong secret: the error shows the secret: %v", err)
			}
		})
	}
}

func TestVerifyUnreachable(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	conn := connection.Connection{
		Name: "closed", Kind: connection.KindKeys, AccessKeyID: "AKIDCLOSED", SecretAccessKey: connection.NewSecret("s"),
		Region: "us-east-1", Endpoint: "http://" + addr, PathStyle: true, AllowPrivate: true,
	}
	_, err := verify(t, conn)
	if !errors.Is(err, s3client.ErrUnreachable) {
		t.Fatalf("closed port: %v, want ErrUnreachable", err)
	}
	for _, part := range []string{s3client.CodeUnreachable, addr} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("closed port: %q does not mention %q", err, part)
		}
	}
	if errors.Is(err, s3client.ErrUnknownKey) || errors.Is(err, s3client.ErrWrongSecret) {
		t.Errorf("closed port: %v also matches another failure", err)
	}
}

// TestVerifyAnswers covers answers from a fake ListBuckets: AccessDenied
// still proves the keys (S3 checks the signature first).
func TestVerifyAnswers(t *testing.T) {
	for _, tc := range []struct {
		status      int
		code        string
		sentinel    error // nil: success expected unless wantErr
		wantErr     bool
		wantWarning bool
	}{
		{status: 403, code: "AccessDenied", wantWarning: true},
		{status: 403, code: "InvalidAccessKeyId", sentinel: s3client.ErrUnknownKey, wantErr: true},
		{status: 403, code: "SignatureDoesNotMatch", sentinel: s3client.ErrWrongSecret, wantErr: true},
		{status: 400, code: "InvalidRequest", wantErr: true},
	} {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				if r.Method != http.MethodGet || r.URL.Path != "/" {
					t.Errorf("Verify sent %s %s, want GET / (ListBuckets)", r.Method, r.URL.Path)
				}
				writeError(w, tc.status, tc.code)
			})
			v, err := verify(t, f.conn())
			if !tc.wantErr {
				if err != nil || v.Status == "" || (v.Warning != "") != tc.wantWarning {
					t.Fatalf("Verify = %+v, %v; want success, warning %v", v, err, tc.wantWarning)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = %+v, want an error", v)
			}
			if !strings.Contains(err.Error(), tc.code) || !strings.Contains(err.Error(), "FAKEREQ123") {
				t.Errorf("error %q does not show the code %s and the request id", err, tc.code)
			}
			for _, s := range []error{s3client.ErrUnknownKey, s3client.ErrWrongSecret, s3client.ErrUnreachable} {
				if errors.Is(err, s) != (s == tc.sentinel) {
					t.Errorf("errors.Is(err, %q) = %v", s, errors.Is(err, s))
				}
			}
		})
	}
}

// TestExplain explains real failures from each server: one line with S3's
// code, the request id and what to try, and the SDK error still inside.
func TestExplain(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			bucket := tg.Bucket(t)
			cl := tg.Client(t).S3("")
			_, noKey := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing.txt")})
			_, noBucket := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket + "-missing"), Key: aws.String("k")})
			_, headMissing := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing.txt")})
			wrongKey := tg.Conn
			wrongKey.AccessKeyID = "NOSUCHKEY" + strings.Repeat("X", 11)
			wrong, err := s3client.New(ctx, wrongKey, "", s3client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, unknownKey := wrong.S3("").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
			denied := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ string) { writeError(w, 403, "AccessDenied") })
			deniedClient, err := s3client.New(ctx, denied.conn(), "", s3client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, accessDenied := deniedClient.S3("").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("demo"), Key: aws.String("k")})

			unknownKeyCode := s3client.Code(unknownKey)
			if !slices.Contains(unknownKeyCodes, unknownKeyCode) {
				t.Errorf("an unknown key id gets code %q, want one of %q", unknownKeyCode, unknownKeyCodes)
			}
			for _, tc := range []struct {
				name, code, hint string
				err              error
				wantRequestID    bool
				status           int // 0: any
			}{
				{"missing key", "NoSuchKey", "list-files", noKey, true, 404},
				{"missing bucket", "NoSuchBucket", "check the bucket name", noBucket, true, 404},
				{"unknown key id", unknownKeyCode, "access key id", unknownKey, true, 0},
				{"access denied (fake)", "AccessDenied", "policy", accessDenied, true, 403},
				// HEAD answers have no body: the code is the bare status.
				{"missing key, HEAD", "NotFound", "does not exist", headMissing, false, 404},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if tc.err == nil {
						t.Fatal("the call did not fail")
					}
					explained := s3client.Explain(tc.err)
					var e *s3client.Error
					if !errors.As(explained, &e) {
						t.Fatalf("Explain returned %T %v, want an *s3client.Error", explained, explained)
					}
					if e.Code != tc.code || (tc.status != 0 && e.Status != tc.status) || s3client.Code(tc.err) != tc.code {
						t.Errorf("code %q status %d, Code() %q; want %q %d", e.Code, e.Status, s3client.Code(tc.err), tc.code, tc.status)
					}
					if tc.wantRequestID && e.RequestID == "" {
						t.Error("no request id")
					}
					msg := explained.Error()
					if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, tc.code) || !strings.Contains(msg, e.RequestID) ||
						e.Hint == "" || !strings.Contains(msg, e.Hint) || !strings.Contains(msg, tc.hint) {
						t.Errorf("Explain says %q; want one line with %s, the request id %q and a hint about %q", msg, tc.code, e.RequestID, tc.hint)
					}
					if !errors.Is(explained, tc.err) {
						t.Error("the SDK error is not wrapped")
					}
					if again := s3client.Explain(explained); again != explained {
						t.Errorf("Explain of an explained error changed it to %v", again)
					}
				})
			}
		})
	}
}

// TestExplainPassesThrough: what is neither an S3 answer nor a network
// failure comes back untouched.
func TestExplainPassesThrough(t *testing.T) {
	t.Parallel()
	plain := errors.New("some local failure")
	for _, err := range []error{nil, context.Canceled, plain} {
		if got := s3client.Explain(err); got != err {
			t.Errorf("Explain(%v) = %v, want it unchanged", err, got)
		}
		if got := s3client.Code(err); got != "" {
			t.Errorf("Code(%v) = %q, want \"\"", err, got)
		}
	}
}

func TestLoopback(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		want     bool
	}{
		{"", false},
		{"http://127.0.0.1:9000", true},
		{"http://127.8.9.1", true},
		{"http://localhost:9000", true},
		{"http://[::1]:9000", true},
		{"https://s3.eu-central-1.amazonaws.com", false},
		{"http://10.0.0.5:9000", false},
		{"http://localhost.example.com", false},
	} {
		c, err := s3client.New(t.Context(), connection.Connection{
			Name: "x", Kind: connection.KindKeys, AccessKeyID: "AKIA", SecretAccessKey: connection.NewSecret("s"),
			Endpoint: tt.endpoint, PathStyle: true,
		}, "", s3client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Loopback(); got != tt.want {
			t.Errorf("Loopback() for %q = %v, want %v", tt.endpoint, got, tt.want)
		}
	}
}
