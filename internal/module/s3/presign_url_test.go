package s3

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

func TestPresignExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration // 0: an InputError
	}{
		{"15m", 15 * time.Minute},
		{"1h", time.Hour},
		{" 1h30m ", 90 * time.Minute},
		{"168h", 7 * 24 * time.Hour},
		{"1s", time.Second},
		{"90.5s", 90 * time.Second}, // X-Amz-Expires counts whole seconds
		{"168h1s", 0},
		{"192h", 0}, // eight days
		{"0s", 0},
		{"0", 0},
		{"-1h", 0},
		{"500ms", 0},
		{"7d", 0}, // not a Go duration; the rule says so
		{"", 0},
		{"soon", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseExpiry(tc.in)
			if tc.want == 0 {
				var input *module.InputError
				if !errors.As(err, &input) || input.Field != "expires" {
					t.Fatalf("parseExpiry(%q) = %v, %v; want an InputError on expires", tc.in, got, err)
				}
				if !strings.Contains(err.Error(), "168h") {
					t.Errorf("error %q does not say the limit", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseExpiry(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzPresignExpiry checks that every accepted lifetime is one SigV4
// allows: whole seconds, from one second to seven days.
func FuzzPresignExpiry(f *testing.F) {
	for _, s := range []string{"15m", "168h", "168h0m1s", "0s", "-1h", "1.5s", "9223372036854775807ns", "1e3h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseExpiry(s)
		if err != nil {
			var input *module.InputError
			if !errors.As(err, &input) || input.Field != "expires" {
				t.Fatalf("parseExpiry(%q): %v is not an InputError on expires", s, err)
			}
			return
		}
		if d < time.Second || d > maxPresignExpiry || d%time.Second != 0 {
			t.Fatalf("parseExpiry(%q) accepted %v", s, d)
		}
	})
}

// TestPresignCheck: bad inputs fail in Check, before any request.
func TestPresignCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		raw   map[string]any
		field string
	}{
		{"eight days", map[string]any{"bucket": "demo", "path": "a.txt", "expires": "192h"}, "expires"},
		{"no time", map[string]any{"bucket": "demo", "path": "a.txt", "expires": "0s"}, "expires"},
		{"type on GET", map[string]any{"bucket": "demo", "path": "a.txt", "content_type": "text/csv"}, "content_type"},
		{"POST", map[string]any{"bucket": "demo", "path": "a.txt", "method": "POST"}, "method"},
		{"folder", map[string]any{"bucket": "demo", "path": "reports/"}, "path"},
		{"bucket with path", map[string]any{"bucket": "demo/reports", "path": "a.txt"}, "bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PresignURL.Check(tc.raw)
			var input *module.InputError
			if !errors.As(err, &input) || input.Field != tc.field {
				t.Fatalf("Check = %v, want an InputError on %s", err, tc.field)
			}
		})
	}
	in, err := PresignURL.Check(map[string]any{"bucket": "demo", "path": "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if in.String("method") != http.MethodGet || in.String("expires") != "15m" {
		t.Errorf("defaults: method %q, expires %q; want GET, 15m", in.String("method"), in.String("expires"))
	}
}

// presignOne runs Presign a URL and checks what every link must be: one
// bundle, the method asked for, a lifetime that matches, no secret.
func presignOne(t *testing.T, tg s3test.Target, raw map[string]any, lifetime time.Duration) module.Bundle {
	t.Helper()
	before := time.Now().UTC().Truncate(time.Second)
	got, err := run(t, tg, PresignURL, raw)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	if len(got) != 1 {
		t.Fatalf("got %d bundles, want 1", len(got))
	}
	b := got[0]
	link, _ := b["url"].(string)
	if secret := tg.Conn.SecretAccessKey.Reveal(); secret == "" || strings.Contains(link, secret) || strings.Contains(link, url.QueryEscape(secret)) {
		t.Fatalf("the URL contains the secret access key: %s", link)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("url %q: %v", link, err)
	}
	q := u.Query()
	if q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-Expires") != strconv.Itoa(int(lifetime/time.Second)) {
		t.Errorf("query %v: want a signature and X-Amz-Expires=%s", q, strconv.Itoa(int(lifetime/time.Second)))
	}
	if !strings.HasPrefix(link, tg.Conn.Endpoint+"/") {
		t.Errorf("url %s is not on the endpoint %s (path style)", link, tg.Conn.Endpoint)
	}
	exp, _ := b["expiresAt"].(time.Time)
	if exp.Before(before.Add(lifetime)) || exp.After(after.Add(lifetime)) || exp.Location() != time.UTC {
		t.Errorf("expiresAt %v, want %v after the signing (between %v and %v), in UTC", exp, lifetime, before, after)
	}
	if _, ok := b["headers"].(map[string]string); !ok {
		t.Errorf("headers is %T, want map[string]string", b["headers"])
	}
	return b
}

func TestPresignGet(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			key := "shared/report (final)+1.csv"
			body := "a,b\n1,2\n"
			seedObjects(t, tg, bucket, map[string]string{key: body})

			b := presignOne(t, tg, map[string]any{"bucket": bucket, "path": "/" + key, "expires": "1h"}, time.Hour)
			if b["method"] != http.MethodGet || len(b["headers"].(map[string]string)) != 0 {
				t.Errorf("method %v, headers %v; want GET and none to send", b["method"], b["headers"])
			}
			status, got := httpDo(t, http.MethodGet, b["url"].(string), nil, nil)
			if status != http.StatusOK || got != body {
				t.Fatalf("GET the presigned URL: %d %q, want 200 %q", status, got, body)
			}
			// The signature is what grants access: the same URL without it
			// is refused, so the object is not simply public.
			u, _ := url.Parse(b["url"].(string))
			u.RawQuery = ""
			if status, _ := httpDo(t, http.MethodGet, u.String(), nil, nil); status != http.StatusForbidden {
				t.Errorf("GET without the signature: %d, want 403", status)
			}
		})
	}
}

func TestPresignPut(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)

			t.Run("content type", func(t *testing.T) {
				key := "uploads/q3.csv"
				b := presignOne(t, tg, map[string]any{"bucket": bucket, "path": key, "method": "PUT", "content_type": "text/csv", "expires": "10m"}, 10*time.Minute)
				headers := b["headers"].(map[string]string)
				if b["method"] != http.MethodPut || len(headers) != 1 || headers["Content-Type"] != "text/csv" {
					t.Fatalf("method %v, headers %v; want PUT and Content-Type: text/csv", b["method"], headers)
				}
				if signed := urlQuery(t, b["url"].(string)).Get("X-Amz-SignedHeaders"); !strings.Contains(signed, "content-type") {
					t.Errorf("X-Amz-SignedHeaders=%q; the content type is not signed", signed)
				}
				// Another type than the signed one is refused.
				status, _ := httpDo(t, http.MethodPut, b["url"].(string), map[string]string{"Content-Type": "image/png"}, strings.NewReader("x"))
				if status != http.StatusForbidden {
					t.Errorf("PUT with another Content-Type: %d, want 403", status)
				}
				body := "region,total\neu,42\n"
				if status, answer := httpDo(t, http.MethodPut, b["url"].(string), headers, strings.NewReader(body)); status != http.StatusOK {
					t.Fatalf("PUT the presigned URL: %d %s", status, answer)
				}
				var head struct {
					ContentType   string
					ContentLength int64
				}
				if err := json.Unmarshal([]byte(tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", key)), &head); err != nil {
					t.Fatal(err)
				}
				if head.ContentType != "text/csv" || head.ContentLength != int64(len(body)) {
					t.Errorf("aws head-object: %+v, want text/csv and %d bytes", head, len(body))
				}
			})

			t.Run("no content type", func(t *testing.T) {
				key := "uploads/any.bin"
				b := presignOne(t, tg, map[string]any{"bucket": bucket, "path": key, "method": "PUT"}, 15*time.Minute)
				if headers := b["headers"].(map[string]string); len(headers) != 0 {
					t.Errorf("headers %v, want none to send", headers)
				}
				if status, answer := httpDo(t, http.MethodPut, b["url"].(string), nil, strings.NewReader("\x00\x01")); status != http.StatusOK {
					t.Fatalf("PUT the presigned URL: %d %s", status, answer)
				}
				out, err := tg.Client(t).S3("").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				defer out.Body.Close()
				if got, _ := io.ReadAll(out.Body); string(got) != "\x00\x01" {
					t.Errorf("stored %q, want the uploaded bytes", got)
				}
			})
		})
	}
}

// httpDo sends one plain net/http request (no SDK, no credentials) and
// returns the status and body.
func httpDo(t *testing.T, method, link string, headers map[string]string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, link, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

func urlQuery(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
