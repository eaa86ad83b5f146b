package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

const testRoleARN = "arn:aws:iam::123456789012:role/s3flow-test"

// createKeys makes a connection NAME with the target's keys.
func createKeys(t *testing.T, name string, tg s3test.Target) {
	t.Helper()
	t.Setenv("KINDS_TEST_SECRET", tg.Conn.SecretAccessKey.Reveal())
	if code, _, stderr := runCLI(t, "", "connection", "create", name, "--endpoint", tg.Conn.Endpoint, "--path-style",
		"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "KINDS_TEST_SECRET"); code != 0 {
		t.Fatalf("connection create %s: %s", name, stderr)
	}
}

// TestConnectionRoleMinio: roles assumed with MinIO's STS, with the
// connection's own keys and with another connection's, are verified on
// create, work for modules (the aws CLI sees what they wrote), are shown
// without a secret, and keep their source from being deleted. Wrong
// source keys are refused naming the step.
func TestConnectionRoleMinio(t *testing.T) {
	tg := s3test.Minio(t)
	setup(t)
	createKeys(t, "minio-keys", tg)
	t.Setenv("KINDS_TEST_EXTERNAL_ID", "ext-id-that-is-secret")
	code, _, stderr := runCLI(t, "", "connection", "create", "role-keys", "--endpoint", tg.Conn.Endpoint, "--path-style",
		"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "KINDS_TEST_SECRET",
		"--role-arn", testRoleARN, "--duration", "15m", "--external-id-env", "KINDS_TEST_EXTERNAL_ID")
	if code != 0 || !strings.Contains(stderr, "verified: the role's credentials can list buckets") {
		t.Fatalf("create role-keys: code %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "", "connection", "create", "role-source", "--endpoint", tg.Conn.Endpoint, "--path-style",
		"--source-connection", "minio-keys", "--role-arn", testRoleARN)
	if code != 0 || !strings.Contains(stderr, "verified") {
		t.Fatalf("create role-source: code %d: %s", code, stderr)
	}

	bucket := tg.Bucket(t)
	for _, conn := range []string{"role-keys", "role-source"} {
		file := filepath.Join(t.TempDir(), conn+".txt")
		os.WriteFile(file, []byte("hello from "+conn), 0o600)
		if code, _, stderr := runCLI(t, "", "s3", "upload-file", "-c", conn, "--bucket", bucket, "--file", file); code != 0 {
			t.Fatalf("upload with %s: %s", conn, stderr)
		}
	}
	listed := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket, "--query", "Contents[].Key")
	for _, key := range []string{"role-keys.txt", "role-source.txt"} {
		if !strings.Contains(listed, key) {
			t.Errorf("the aws CLI does not list %s: %s", key, listed)
		}
	}

	_, out, _ := runCLI(t, "", "connection", "show", "role-keys", "-o", "json")
	for _, want := range []string{`"kind":"role"`, `"roleArn":"` + testRoleARN + `"`, `"externalId":true`, `"durationSeconds":900`, `"roleSessionName":"s3flow-role-keys"`} {
		if !strings.Contains(out, want) {
			t.Errorf("connection show lacks %s: %s", want, out)
		}
	}
	if strings.Contains(out, "ext-id-that-is-secret") || strings.Contains(out, tg.Conn.SecretAccessKey.Reveal()) {
		t.Errorf("connection show prints a secret: %s", out)
	}
	_, out, _ = runCLI(t, "", "connection", "show", "role-source", "-o", "json")
	if !strings.Contains(out, `"sourceConnection":"minio-keys"`) || !strings.Contains(out, `assumed with connection \"minio-keys\"`) {
		t.Errorf("connection show role-source: %s", out)
	}

	if code, _, stderr := runCLI(t, "", "connection", "delete", "minio-keys"); code == 0 || !strings.Contains(stderr, "it is the source of role-source") {
		t.Errorf("deleting a source in use: code %d: %s", code, stderr)
	}
	t.Setenv("KINDS_TEST_SECRET", "not-the-secret")
	code, _, stderr = runCLI(t, "", "connection", "create", "role-bad", "--endpoint", tg.Conn.Endpoint, "--path-style",
		"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "KINDS_TEST_SECRET", "--role-arn", testRoleARN)
	// MinIO answers a bad signature on STS with AccessDenied (AWS with
	// SignatureDoesNotMatch, which names the source step instead).
	if code != 1 || !regexp.MustCompile(`not saved: (assuming the role|getting the source credentials) failed: STS answered`).MatchString(stderr) {
		t.Errorf("role with a wrong secret: code %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "connection", "create", "role-loop", "--source-connection", "nope", "--role-arn", testRoleARN); code != 2 ||
		!strings.Contains(stderr, `--source-connection: source connection: connection "nope": no such connection`) {
		t.Errorf("a missing source: code %d: %s", code, stderr)
	}
}

// realMinioCredentials assumes a role on MinIO and returns its temporary
// credentials, for the fake STS services below to hand out.
func realMinioCredentials(t *testing.T, tg s3test.Target) aws.Credentials {
	t.Helper()
	client := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(tg.Conn.Endpoint), HTTPClient: awshttp.NewBuildableClient(),
		Credentials: credentials.NewStaticCredentialsProvider(tg.Conn.AccessKeyID, tg.Conn.SecretAccessKey.Reveal(), "")})
	out, err := client.AssumeRole(t.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("s3flow-test"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("assume a role on MinIO: %v", err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

// fakeSTS answers AssumeRole (when the role ARN and external id are the
// ones it expects) and AssumeRoleWithWebIdentity (when the token is), with
// creds: an STS whose refusals the test controls. It is the fault
// injection here; what it hands out are MinIO's real credentials.
type fakeSTS struct {
	role, externalID, token string
	creds                   aws.Credentials
	mu                      sync.Mutex
	calls                   []url.Values
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f.mu.Lock()
	f.calls = append(f.calls, r.PostForm)
	f.mu.Unlock()
	action := r.PostForm.Get("Action")
	ok := r.PostForm.Get("RoleArn") == f.role
	switch action {
	case "AssumeRole":
		ok = ok && r.PostForm.Get("ExternalId") == f.externalID
	case "AssumeRoleWithWebIdentity":
		ok = ok && r.PostForm.Get("WebIdentityToken") == f.token
	default:
		ok = false
	}
	w.Header().Set("Content-Type", "text/xml")
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:%s on %s</Message></Error></ErrorResponse>`,
			action, r.PostForm.Get("RoleArn"))
		return
	}
	fmt.Fprintf(w, `<%[1]sResponse><%[1]sResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials></%[1]sResult></%[1]sResponse>`,
		action, f.creds.AccessKeyID, f.creds.SecretAccessKey, f.creds.SessionToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

// TestConnectionRoleSteps: a wrong role and a wrong external id are
// refused on create naming the role's assumption; credentials S3 does not
// take name the bucket listing; a web identity token file and a profile
// with credential_process work, and a missing token file or profile
// names the source.
func TestConnectionRoleSteps(t *testing.T) {
	tg := s3test.Minio(t)
	setup(t)
	fake := &fakeSTS{role: testRoleARN, externalID: "right-external-id", token: "the-web-identity-token", creds: realMinioCredentials(t, tg)}
	stsServer := httptest.NewServer(fake)
	t.Cleanup(stsServer.Close)

	create := func(name, externalID string, args ...string) (int, string) {
		t.Helper()
		t.Setenv("KINDS_TEST_SECRET", tg.Conn.SecretAccessKey.Reveal())
		t.Setenv("KINDS_TEST_EXTERNAL_ID", externalID)
		base := []string{"connection", "create", name, "--endpoint", tg.Conn.Endpoint, "--path-style", "--sts-endpoint", stsServer.URL}
		code, _, stderr := runCLI(t, "", append(base, args...)...)
		return code, stderr
	}
	keys := []string{"--access-key-id", "any-key", "--secret-access-key-env", "KINDS_TEST_SECRET", "--external-id-env", "KINDS_TEST_EXTERNAL_ID"}
	if code, stderr := create("wrong-external-id", "wrong-external-id", append(keys, "--role-arn", testRoleARN)...); code != 1 ||
		!strings.Contains(stderr, `connection "wrong-external-id" not saved: assuming the role failed: STS answered AccessDenied: not authorized to perform sts:AssumeRole`) {
		t.Errorf("wrong external id: code %d: %s", code, stderr)
	}
	if strings.Contains(fmt.Sprint(fake.calls), "right-external-id") {
		t.Fatal("the fake STS is broken")
	}
	if code, stderr := create("wrong-role", "right-external-id", append(keys, "--role-arn", "arn:aws:iam::123456789012:role/other")...); code != 1 ||
		!strings.Contains(stderr, "assuming the role failed: STS answered AccessDenied") {
		t.Errorf("wrong role: code %d: %s", code, stderr)
	}
	if code, stderr := create("right", "right-external-id", append(keys, "--role-arn", testRoleARN)...); code != 0 {
		t.Fatalf("right role and external id: code %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "s3", "list-buckets", "-c", "right"); code != 0 {
		t.Errorf("list buckets with the role: %s", stderr)
	}

	// Credentials STS gave but S3 does not take.
	good := fake.creds
	fake.creds.AccessKeyID = "NOTAKEYMINIOKNOWS"
	if code, stderr := create("listing-fails", "right-external-id", append(keys, "--role-arn", testRoleARN)...); code != 1 ||
		!strings.Contains(stderr, `connection "listing-fails" not saved: listing buckets failed:`) {
		t.Errorf("credentials S3 refuses: code %d: %s", code, stderr)
	}
	fake.creds = good

	tokenFile := filepath.Join(t.TempDir(), "token")
	if code, stderr := create("web-missing", "", "--role-arn", testRoleARN, "--web-identity-token-file", tokenFile); code != 1 ||
		!strings.Contains(stderr, "getting the source credentials failed") || !strings.Contains(stderr, "no such file") {
		t.Errorf("web identity without its token file: code %d: %s", code, stderr)
	}
	os.WriteFile(tokenFile, []byte("the-web-identity-token"), 0o600)
	if code, stderr := create("web", "", "--role-arn", testRoleARN, "--web-identity-token-file", tokenFile); code != 0 {
		t.Fatalf("web identity: code %d: %s", code, stderr)
	}
	last := fake.calls[len(fake.calls)-1]
	if last.Get("Action") != "AssumeRoleWithWebIdentity" || last.Get("RoleSessionName") != "s3flow-web" {
		t.Errorf("the web identity call was %v", last)
	}
	if code, _, stderr := runCLI(t, "", "s3", "list-buckets", "-c", "web"); code != 0 {
		t.Errorf("list buckets with the web identity: %s", stderr)
	}

	// A profile whose credential_process prints MinIO's keys.
	dir := t.TempDir()
	script := filepath.Join(dir, "creds.sh")
	os.WriteFile(script, fmt.Appendf(nil, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\"}'\n",
		tg.Conn.AccessKeyID, tg.Conn.SecretAccessKey.Reveal()), 0o700)
	config := filepath.Join(dir, "config")
	os.WriteFile(config, fmt.Appendf(nil, "[profile from-process]\ncredential_process = %s\nregion = us-east-1\n", script), 0o600)
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	if code, _, stderr := runCLI(t, "", "connection", "create", "proc", "--profile", "from-process", "--endpoint", tg.Conn.Endpoint, "--path-style"); code != 0 ||
		!strings.Contains(stderr, "verified: the profile's credentials can list buckets") {
		t.Fatalf("profile with credential_process: code %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "", "connection", "create", "noprofile", "--profile", "missing", "--endpoint", tg.Conn.Endpoint, "--path-style"); code != 1 ||
		!strings.Contains(stderr, `getting the source credentials failed: profile "missing"`) {
		t.Errorf("a missing profile: code %d: %s", code, stderr)
	}
	// Read when used, not copied: the script's keys are the machine's.
	home := os.Getenv("S3FLOW_HOME")
	for _, name := range []string{"s3flow.db", "s3flow.db-wal"} {
		db, _ := os.ReadFile(filepath.Join(home, name))
		if strings.Contains(string(db), tg.Conn.SecretAccessKey.Reveal()) || strings.Contains(string(db), "right-external-id") ||
			strings.Contains(string(db), fake.creds.SecretAccessKey) {
			t.Errorf("a secret is in %s in plain text", name)
		}
	}
}

// expiringSTS sits in front of MinIO: it passes every request on (the
// Host header kept, so signatures hold), says the credentials AssumeRole
// gives expire lifetime after RefreshBefore from now, and refuses (as S3
// does, ExpiredToken) any S3 request signed with credentials past that.
type expiringSTS struct {
	proxy    *httputil.ReverseProxy
	lifetime time.Duration

	mu      sync.Mutex
	expires map[string]time.Time // access key id -> when the proxy says it expired
	issued  int
	refused int
}

var credentialKeyID = regexp.MustCompile(`Credential=([^/]+)/`)

func newExpiringSTS(t *testing.T, target string, lifetime time.Duration) *expiringSTS {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	e := &expiringSTS{lifetime: lifetime, expires: map[string]time.Time{}}
	e.proxy = &httputil.ReverseProxy{
		Director: func(r *http.Request) { r.URL.Scheme, r.URL.Host = u.Scheme, u.Host },
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Header.Get("X-Test-STS") == "" || resp.StatusCode != http.StatusOK {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			// Past the SDK's refresh window by lifetime: the cache uses
			// the credentials that long, then must assume the role again.
			expires := time.Now().Add(s3client.RefreshBefore + e.lifetime)
			body = regexp.MustCompile(`<Expiration>[^<]*</Expiration>`).ReplaceAll(body, []byte("<Expiration>"+expires.UTC().Format(time.RFC3339Nano)+"</Expiration>"))
			if m := regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`).FindSubmatch(body); m != nil {
				e.mu.Lock()
				// Refused a little after the SDK stops using them, as S3
				// refuses them after the SDK's refresh window.
				e.expires[string(m[1])] = time.Now().Add(e.lifetime + 2*time.Second)
				e.issued++
				e.mu.Unlock()
			}
			resp.Body = io.NopCloser(strings.NewReader(string(body)))
			resp.ContentLength = int64(len(body))
			resp.Header.Del("Content-Length")
			return nil
		},
	}
	return e
}

func (e *expiringSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Header.Set("X-Test-STS", "1") // not signed by the client; MinIO ignores it
	} else if m := credentialKeyID.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		e.mu.Lock()
		expires, ok := e.expires[m[1]]
		expired := ok && time.Now().After(expires)
		if expired {
			e.refused++
		}
		e.mu.Unlock()
		if expired {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`)
			return
		}
	}
	e.proxy.ServeHTTP(w, r)
}

func (e *expiringSTS) counts() (issued, refused int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issued, e.refused
}

// TestRoleRefreshedDuringRun: a flow whose run outlasts its role's
// credentials (they expire three seconds after each AssumeRole, by the
// proxy's clock, and requests signed with them are then refused) assumes
// the role again and goes on: its last step, after the expiry, succeeds.
func TestRoleRefreshedDuringRun(t *testing.T) {
	tg := s3test.Minio(t)
	setup(t)
	proxy := newExpiringSTS(t, tg.Conn.Endpoint, 3*time.Second)
	server := httptest.NewServer(proxy)
	t.Cleanup(server.Close)
	t.Setenv("KINDS_TEST_SECRET", tg.Conn.SecretAccessKey.Reveal())
	if code, _, stderr := runCLI(t, "", "connection", "create", "short", "--endpoint", server.URL, "--path-style",
		"--access-key-id", tg.Conn.AccessKeyID, "--secret-access-key-env", "KINDS_TEST_SECRET", "--role-arn", testRoleARN, "--duration", "15m"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	bucket := tg.Bucket(t)
	file := filepath.Join(t.TempDir(), "a.txt")
	os.WriteFile(file, []byte("a"), 0o600)
	tg.AWS(t, "s3api", "put-object", "--bucket", bucket, "--key", "in/a.txt", "--body", file)
	flowFile := filepath.Join(t.TempDir(), "long.yaml")
	os.WriteFile(flowFile, fmt.Appendf(nil, `name: long
steps:
  - id: list
    module: s3.list_files
    connection: short
    with: {bucket: %[1]s, prefix: in/}
  - id: wait
    module: s3.wait_for_files
    connection: short
    with: {bucket: %[1]s, prefix: in/, settle: 5s, timeout: 1m}
  - id: copy
    module: s3.copy_file
    connection: short
    with: {bucket: %[1]s, path: "{{ steps.list.key }}", to_path: "out/a.txt"}
`, bucket), 0o600)
	issuedBefore, _ := proxy.counts()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	streams, _, errOut := TestIO("")
	if code := run(ctx, streams, []string{"run", flowFile}); code != 0 {
		t.Fatalf("the run failed: %s", errOut)
	}
	issued, refused := proxy.counts()
	if issued-issuedBefore < 2 {
		t.Errorf("the role was assumed %d times during a run past its credentials' expiry, want 2 or more", issued-issuedBefore)
	}
	if refused > 0 {
		t.Errorf("%d requests went out with expired credentials", refused)
	}
	if out := tg.AWS(t, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "out/", "--query", "Contents[].Key"); !strings.Contains(out, "out/a.txt") {
		t.Errorf("the last step's copy is missing: %s", out)
	}
}
