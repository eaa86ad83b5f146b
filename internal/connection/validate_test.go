package connection

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConnectionValidate: each rule refuses its field by name, every
// problem is reported at once, and a good connection passes.
func TestConnectionValidate(t *testing.T) {
	t.Parallel()
	good := func() Connection {
		return Connection{Name: "prod", Kind: KindKeys, AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: NewSecret("s"),
			Region: "eu-central-1", Endpoint: "https://s3.example.com", ChecksumMode: ChecksumWhenRequired}
	}
	for _, tt := range []struct {
		name   string
		change func(*Connection)
		want   []string // "field: rule" substrings, in order; none means valid
	}{
		{"good", func(*Connection) {}, nil},
		{"tuned", func(c *Connection) { c.MaxAttempts, c.PartSizeMiB, c.ParallelParts = 20, 5120, 64 }, nil},
		{"smallest tuning", func(c *Connection) { c.MaxAttempts, c.PartSizeMiB, c.ParallelParts = 1, 5, 1 }, nil},
		{"session token", func(c *Connection) { c.SessionToken = NewSecret("tok") }, nil},
		{"no endpoint (AWS)", func(c *Connection) { c.Endpoint = "" }, nil},

		{"no name", func(c *Connection) { c.Name = "" }, []string{"name: is required"}},
		{"reserved name", func(c *Connection) { c.Name = "local" }, []string{`name: connection name "local" is reserved`}},
		{"bad name", func(c *Connection) { c.Name = "a b" }, []string{`name: connection name "a b" must be 1-63 letters`}},
		{"not keys", func(c *Connection) { c.Kind = KindEnv }, []string{`name: must name a connection with keys, a role or a profile, not one of kind "env"`}},
		{"no key id", func(c *Connection) { c.AccessKeyID = "" }, []string{"access_key_id: is required"}},
		{"key id with a newline", func(c *Connection) { c.AccessKeyID = "AKID\nX-Evil: 1" }, []string{"access_key_id: must not hold spaces or control characters"}},
		{"no secret", func(c *Connection) { c.SecretAccessKey = Secret{} }, []string{"secret_access_key: is required"}},
		{"token without a secret", func(c *Connection) { c.SecretAccessKey, c.SessionToken = Secret{}, NewSecret("tok") },
			[]string{"secret_access_key: is required", "session_token: goes with an access key id and a secret access key"}},
		{"bad region", func(c *Connection) { c.Region = "EU" }, []string{`region: must be 1-63 lower-case letters, digits and dashes (like eu-central-1), got "EU"`}},
		{"no region", func(c *Connection) { c.Region = "" }, []string{"region: must be 1-63"}},
		{"endpoint with a path", func(c *Connection) { c.Endpoint = "https://s3.example.com/p" }, []string{"endpoint: must not have a path"}},
		{"endpoint not a URL", func(c *Connection) { c.Endpoint = "127.0.0.1:9000" }, []string{"endpoint: must be an http:// or https:// URL"}},
		{"bad checksum", func(c *Connection) { c.ChecksumMode = "always" }, []string{`checksum: must be when-required or when-supported, got "always"`}},
		{"max attempts too many", func(c *Connection) { c.MaxAttempts = 21 }, []string{"max_attempts: must be from 1 to 20 (or 0 for the default), got 21"}},
		{"max attempts below 0", func(c *Connection) { c.MaxAttempts = -1 }, []string{"max_attempts: must be from 1 to 20"}},
		{"part too small", func(c *Connection) { c.PartSizeMiB = 4 }, []string{"part_size_mib: must be from 5 to 5120 MiB (or 0 for the default), got 4"}},
		{"part too large", func(c *Connection) { c.PartSizeMiB = 5121 }, []string{"part_size_mib: must be from 5 to 5120 MiB"}},
		{"too many parallel parts", func(c *Connection) { c.ParallelParts = 65 }, []string{"parallel_parts: must be from 1 to 64 (or 0 for the default), got 65"}},
		{"parallel parts below 0", func(c *Connection) { c.ParallelParts = -2 }, []string{"parallel_parts: must be from 1 to 64"}},
		{"every problem at once", func(c *Connection) { c.Name, c.Region, c.PartSizeMiB, c.ParallelParts = "", "x y", 1, 99 },
			[]string{"name: is required", "region: must be", "part_size_mib: must be", "parallel_parts: must be"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good()
			tt.change(&c)
			checkProblems(t, c.Validate(), tt.want)
		})
	}
}

// checkProblems wants err to be Problems whose messages hold want, one
// each, in order; no want means no error.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		return
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v (%T), want Problems", err, err)
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, p := range ps {
		if !strings.Contains(p.Error(), want[i]) {
			t.Errorf("problem %d = %q, want %q", i, p.Error(), want[i])
		}
		if p.Error() != p.Field+": "+p.Rule || strings.HasPrefix(p.Rule, p.Field) {
			t.Errorf("problem %d: field %q and rule %q do not make the message %q", i, p.Field, p.Rule, p.Error())
		}
	}
}

// TestConnectionSpecBuild: a spec gets the defaults and the provider's
// preset, and what a preset cannot accept is a problem of a named field.
func TestConnectionSpecBuild(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	for _, tt := range []struct {
		name string
		spec Spec
		want Connection // compared where the spec's result is valid
		errs []string
	}{
		{"defaults", Spec{}, Connection{Region: DefaultRegion, ChecksumMode: ChecksumWhenSupported}, nil},
		{"endpoint", Spec{Endpoint: "HTTP://127.0.0.1:9000/", PathStyle: &yes, MaxAttempts: 5, PartSizeMiB: 16, ParallelParts: 8},
			Connection{Region: DefaultRegion, Endpoint: "http://127.0.0.1:9000", PathStyle: true, ChecksumMode: ChecksumWhenRequired,
				MaxAttempts: 5, PartSizeMiB: 16, ParallelParts: 8}, nil},
		{"provider", Spec{Provider: "minio"},
			Connection{Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true, ChecksumMode: ChecksumWhenRequired}, nil},
		{"the user wins over the provider", Spec{Provider: "minio", Region: "eu-west-1", PathStyle: &no, Checksum: ChecksumWhenSupported},
			Connection{Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", ChecksumMode: ChecksumWhenSupported}, nil},
		{"provider with account id", Spec{Provider: "r2", AccountID: "abc123"},
			Connection{Region: "auto", Endpoint: "https://abc123.r2.cloudflarestorage.com", PathStyle: true, ChecksumMode: ChecksumWhenRequired}, nil},

		{"unknown provider", Spec{Provider: "nope"}, Connection{}, []string{`provider: must be one of aws, b2, ceph, minio, r2, seaweedfs, versitygw, wasabi, got "nope"`}},
		{"account id without a provider", Spec{AccountID: "abc"}, Connection{}, []string{"account_id: goes with a provider"}},
		{"provider needs an account id", Spec{Provider: "r2"}, Connection{}, []string{"account_id: is required by provider r2"}},
		{"provider needs an endpoint", Spec{Provider: "ceph"}, Connection{}, []string{"endpoint: is required by provider ceph"}},
		{"region the provider does not serve", Spec{Provider: "r2", AccountID: "abc", Region: "eu-west-1"}, Connection{},
			[]string{`region: must be one of auto, wnam, enam, weur, eeur, apac for provider r2, got "eu-west-1"`}},
		{"bad region with a provider", Spec{Provider: "wasabi", Region: "x@127.0.0.3"}, Connection{}, []string{"region: must be 1-63"}},
		{"problems of the spec and the rules, in field order", Spec{Provider: "r2", Name: "local", PartSizeMiB: 1, Checksum: "never"}, Connection{},
			[]string{`name: connection name "local" is reserved`, "account_id: is required", "checksum: must be", "part_size_mib: must be"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.spec
			if s.Name == "" {
				s.Name = "c1"
			}
			s.AccessKeyID, s.SecretAccessKey, s.SessionToken = "AKID", NewSecret(" s3cret \n"), NewSecret("")
			c, err := s.Build()
			checkProblems(t, err, tt.errs)
			if err != nil {
				return
			}
			if c.SecretAccessKey.Reveal() != "s3cret" || c.Kind != KindKeys || c.Name != "c1" || c.AccessKeyID != "AKID" {
				t.Errorf("got %+v: want kind keys, name, key id and the secret trimmed", c)
			}
			c.Name, c.Kind, c.AccessKeyID, c.SecretAccessKey, c.SessionToken = "", "", "", Secret{}, Secret{}
			if c != tt.want {
				t.Errorf("got  %+v\nwant %+v", c, tt.want)
			}
		})
	}
}

// TestConnectionSpecJSON: the API's body decodes into a Spec with the
// secrets in, and a Spec never encodes them out.
func TestConnectionSpecJSON(t *testing.T) {
	t.Parallel()
	var s Spec
	body := `{"name":"m","access_key_id":"AKID","secret_access_key":"` + testSecret + `","session_token":"` + testToken +
		`","path_style":false,"max_attempts":5,"part_size_mib":16,"parallel_parts":8,"provider":"minio","account_id":""}`
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.SecretAccessKey.Reveal() != testSecret || s.SessionToken.Reveal() != testToken || s.PathStyle == nil || *s.PathStyle ||
		s.MaxAttempts != 5 || s.PartSizeMiB != 16 || s.ParallelParts != 8 || s.Provider != "minio" {
		t.Errorf("decoded %+v", s)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), testSecret) || strings.Contains(string(out), testToken) {
		t.Errorf("a spec encodes its secrets: %s", out)
	}
}

// TestConnectionSummary: what is shown of a connection, and never a secret.
func TestConnectionSummary(t *testing.T) {
	t.Parallel()
	c := secretConnection()
	c.MaxAttempts, c.PartSizeMiB, c.ParallelParts = 5, 16, 8
	c.CreatedAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	data, err := json.Marshal(c.Summary())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"prod","kind":"keys","accessKeyId":"****************MPLE","region":"eu-central-1","endpoint":"","pathStyle":false,` +
		`"checksum":"when-supported","status":"","maxAttempts":5,"partSizeMiB":16,"parallelParts":8,"sessionToken":true,"credentials":"access keys with a session token","createdAt":"2026-12-01T09:00:00Z"}`
	if string(data) != want {
		t.Errorf("got  %s\nwant %s", data, want)
	}
	var keys map[string]any
	json.Unmarshal(data, &keys)
	for _, k := range []string{"secretAccessKey", "secret_access_key", "sessionTokenValue"} {
		if _, ok := keys[k]; ok {
			t.Errorf("summary has %q", k)
		}
	}
	if strings.Contains(string(data), testSecret) || strings.Contains(string(data), testToken) || strings.Contains(string(data), c.AccessKeyID) {
		t.Errorf("summary shows a secret or the whole key id: %s", data)
	}
	if s := (Connection{Name: "env", Kind: KindEnv}).Summary(); s.AccessKeyID != "" || s.SessionToken || s.CreatedAt != nil {
		t.Errorf("env: %+v", s)
	}
}

// TestSpecKinds: the fields a spec gives decide its kind, and each kind's
// rules refuse their field by name.
func TestSpecKinds(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:iam::123456789012:role/s3flow"
	keys := func(s Spec) Spec {
		s.AccessKeyID, s.SecretAccessKey = "AKIAIOSFODNN7EXAMPLE", NewSecret("s")
		return s
	}
	for _, tt := range []struct {
		name     string
		spec     Spec
		wantKind Kind
		want     []string
	}{
		{"keys", keys(Spec{Name: "k"}), KindKeys, nil},
		{"role with keys", keys(Spec{Name: "r", RoleARN: arn, ExternalID: NewSecret("ext-1"), DurationSeconds: 900}), KindRole, nil},
		{"role with a source connection", Spec{Name: "r", RoleARN: arn, SourceConnection: "prod-keys"}, KindRole, nil},
		{"role with the default chain", Spec{Name: "r", RoleARN: arn}, KindRole, nil},
		{"role on MinIO's STS", keys(Spec{Name: "r", RoleARN: arn, STSEndpoint: "http://127.0.0.1:9000"}), KindRole, nil},
		{"web identity", Spec{Name: "w", RoleARN: arn, WebIdentityTokenFile: "/var/run/secrets/token"}, KindWebIdentity, nil},
		{"profile", Spec{Name: "p", Profile: "sso-prod"}, KindProfile, nil},

		{"role ARN that is not one", keys(Spec{Name: "r", RoleARN: "my-role"}), KindRole, []string{`role_arn: must be a role's ARN (arn:aws:iam::ACCOUNT:role/NAME), got "my-role"`}},
		{"half the keys", Spec{Name: "r", RoleARN: arn, AccessKeyID: "AKID"}, KindRole, []string{"secret_access_key: is required"}},
		{"keys and a source", keys(Spec{Name: "r", RoleARN: arn, SourceConnection: "prod"}), KindRole,
			[]string{"source_connection: and access keys are two sources for the role's credentials: give one"}},
		{"itself as source", Spec{Name: "r", RoleARN: arn, SourceConnection: "r"}, KindRole, []string{`source_connection: must name another connection (not "r" or local), got "r"`}},
		{"short duration", keys(Spec{Name: "r", RoleARN: arn, DurationSeconds: 60}), KindRole, []string{"duration_seconds: must be from 15m0s to 12h0m0s, got 1m0s"}},
		{"bad session name", keys(Spec{Name: "r", RoleARN: arn, RoleSessionName: "a b"}), KindRole, []string{`role_session_name: must be 2-64 letters`}},
		{"bad external id (not echoed)", keys(Spec{Name: "r", RoleARN: arn, ExternalID: NewSecret("x y secret")}), KindRole,
			[]string{"external_id: must be 2-1224 letters, digits or +=,.@:/_-"}},
		{"STS endpoint with a path", keys(Spec{Name: "r", RoleARN: arn, STSEndpoint: "http://h/p"}), KindRole, []string{"sts_endpoint: must not have a path"}},
		{"external id without a role", keys(Spec{Name: "k", ExternalID: NewSecret("abc")}), KindKeys, []string{"external_id: is for assuming a role: give the role's ARN too"}},
		{"relative token file", Spec{Name: "w", RoleARN: arn, WebIdentityTokenFile: "token"}, KindWebIdentity, []string{`web_identity_token_file: must be an absolute path, got "token"`}},
		{"token file and keys", keys(Spec{Name: "w", RoleARN: arn, WebIdentityTokenFile: "/t"}), KindWebIdentity, []string{"web_identity_token_file: is the role's only source"}},
		{"profile and keys", keys(Spec{Name: "p", Profile: "x"}), KindProfile, []string{"profile: names its own credentials"}},
		{"bad profile", Spec{Name: "p", Profile: "a b"}, KindProfile, []string{`profile: must be a profile name`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.spec.Build()
			if c.Kind != tt.wantKind {
				t.Errorf("kind = %q, want %q", c.Kind, tt.wantKind)
			}
			checkProblems(t, err, tt.want)
			if err != nil && strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), "x y secret") {
				t.Errorf("the external id is echoed: %v", err)
			}
		})
	}
}
