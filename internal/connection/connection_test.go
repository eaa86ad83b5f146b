package connection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testToken  = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
)

func secretConnection() Connection {
	return Connection{
		Name: "prod", Kind: KindKeys, AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: NewSecret(testSecret), SessionToken: NewSecret(testToken),
		Region: "eu-central-1", ChecksumMode: ChecksumWhenSupported,
	}
}

// TestSecretNeverPrinted formats a connection every way a program might
// print or log it, and greps the output for the secret and the token.
func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	c := secretConnection()
	type holder struct {
		Conn   Connection
		Secret Secret
	}
	values := map[string]any{
		"Connection":  c,
		"*Connection": &c,
		"Secret":      c.SecretAccessKey,
		"struct":      holder{c, c.SessionToken},
		"slice":       []Connection{c},
		"map":         map[string]Secret{"s": c.SecretAccessKey},
	}
	check := func(t *testing.T, what, out string) {
		t.Helper()
		if strings.Contains(out, testSecret) || strings.Contains(out, testToken) {
			t.Errorf("%s shows a secret: %s", what, out)
		}
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3v"} {
				check(t, "fmt "+verb, fmt.Sprintf(verb, v))
			}
			check(t, "fmt.Errorf", fmt.Errorf("connect: %v", v).Error())
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			check(t, "json.Marshal", string(b))
			var buf bytes.Buffer
			for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
				slog.New(h).Info("using", "value", v, slog.Any("any", v), slog.Group("g", "value", v))
			}
			check(t, "slog", buf.String())
		})
	}
}

func TestSecretPrintsStars(t *testing.T) {
	t.Parallel()
	s := NewSecret(testSecret)
	if got := fmt.Sprint(s); got != "***" {
		t.Errorf("fmt.Sprint = %q, want ***", got)
	}
	if got := fmt.Sprintf("%#v", s); got != `connection.Secret("***")` {
		t.Errorf("%%#v = %q", got)
	}
	if got := fmt.Sprint(NewSecret("")); got != "" {
		t.Errorf("an empty secret prints %q, want nothing", got)
	}
	if s.Reveal() != testSecret {
		t.Error("Reveal does not return the secret")
	}
	b, _ := json.Marshal(secretConnection())
	if !strings.Contains(string(b), `"SecretAccessKey":"***"`) {
		t.Errorf("json.Marshal = %s, want the secret as ***", b)
	}
}

func TestConnectionStringMasksKeyID(t *testing.T) {
	t.Parallel()
	c := secretConnection()
	want := `connection "prod" (keys, key ****************MPLE)`
	if got := c.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "conn", c)
	if strings.Contains(buf.String(), c.AccessKeyID) || !strings.Contains(buf.String(), `"accessKeyId":"****************MPLE"`) {
		t.Errorf("slog shows the key id unmasked: %s", buf.String())
	}
}

func TestMaskKeyID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ id, want string }{
		{"", "****"},
		{"abc", "****"},
		{"abcd", "****"},
		{"abcde", "*bcde"},
		{"s3flowtest", "******test"},
		{"AKIAIOSFODNN7EXAMPLE", "****************MPLE"},
		// Long ids show no more than 16 stars, so the mask stays readable.
		{"AKIAIOSFODNN7EXAMPLEAKIAIOSFODNN7EXAMPLE", "****************MPLE"},
	} {
		if got := MaskKeyID(tt.id); got != tt.want {
			t.Errorf("MaskKeyID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"prod", true},
		{"minio-1", true},
		{"eu.backup_2", true},
		{"A", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-prod", false},
		{".hidden", false},
		{"has space", false},
		{"slash/name", false},
		{"ünï", false},
		{EnvName, false},
		{LocalName, false},
	} {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestDefaultChecksumMode(t *testing.T) {
	t.Parallel()
	if got := DefaultChecksumMode(""); got != ChecksumWhenSupported {
		t.Errorf("AWS: %q", got)
	}
	if got := DefaultChecksumMode("http://127.0.0.1:9000"); got != ChecksumWhenRequired {
		t.Errorf("S3-compatible: %q", got)
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"prod", "local", "", "a/b", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if name == EnvName || name == LocalName || len(name) == 0 || len(name) > 63 || strings.ContainsAny(name, "/ \\\x00") {
			t.Errorf("ValidateName accepted %q", name)
		}
	})
}
