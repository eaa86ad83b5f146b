package s3client_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/s3client"
)

// TestEnvWithoutCredentials: the env connection with nothing to find says
// what to set, naming the connection; what the SDK logs on the way (a WARN
// when instance metadata falls back to IMDSv1) goes to the debug log, not
// to stderr. The metadata service is a local server that refuses
// everything, as one off EC2 would.
func TestEnvWithoutCredentials(t *testing.T) {
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer imds.Close()
	dir := t.TempDir()
	for name, value := range map[string]string{
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL,
		"AWS_EC2_METADATA_DISABLED":         "",
		"AWS_CONFIG_FILE":                   filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":       filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID":                 "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": "",
	} {
		t.Setenv(name, value)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	conn := connection.Connection{Name: "env", Kind: connection.KindEnv, Region: "us-east-1"}
	c, err := s3client.New(t.Context(), conn, "", s3client.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	err = s3client.Explain(c.Do(t.Context(), func(api *s3.Client) error {
		_, err := api.ListBuckets(t.Context(), &s3.ListBucketsInput{})
		return err
	}))
	var noCreds *s3client.NoCredentialsError
	if !errors.As(err, &noCreds) {
		t.Fatalf("err = %v, want a NoCredentialsError", err)
	}
	const want = "no AWS credentials found for connection env: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	if msg := err.Error(); !strings.HasPrefix(msg, want) || strings.Contains(msg, "IMDS") {
		t.Errorf("err = %q, want it to start with %q and not to mention IMDS", msg, want)
	}
	if !strings.Contains(logs.String(), "level=DEBUG msg=\"AWS SDK: falling back to IMDSv1") {
		t.Errorf("the SDK's warning is not in the debug log:\n%s", logs.String())
	}
}
