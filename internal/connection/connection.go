// Package connection holds named S3 connections: the keys, the region and
// where the store lives. Secrets are a type that never prints itself; the
// Store keeps them encrypted at rest.
package connection

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// Kind says where a connection's credentials come from.
type Kind string

const (
	// KindKeys holds an access key id and secret stored (encrypted) by s3flow.
	KindKeys Kind = "keys"
	// KindEnv uses the AWS SDK's default credential chain.
	KindEnv Kind = "env"
	// KindLocal is the embedded S3-compatible endpoint on local disk.
	KindLocal Kind = "local"
)

// Creatable reports whether users create connections of this kind (env
// and local always exist).
func (k Kind) Creatable() bool {
	switch k {
	case KindKeys, KindRole, KindWebIdentity, KindProfile:
		return true
	}
	return false
}

// The names of the connections that always exist.
const (
	EnvName   = "env"
	LocalName = "local"
)

// Checksum modes: when request checksums (the SDK's CRC trailers) are sent.
const (
	ChecksumWhenSupported = "when-supported"
	ChecksumWhenRequired  = "when-required"
)

// Secret is a credential that prints as *** wherever it ends up: fmt, slog,
// JSON. Reveal is the one way to read it.
type Secret struct{ value string }

// NewSecret wraps a credential.
func NewSecret(s string) Secret { return Secret{value: s} }

// Reveal returns the credential itself, for signing and encryption only.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "***"
}

// GoString hides the secret from %#v too.
func (s Secret) GoString() string { return `connection.Secret("***")` }

// Format hides the secret from every verb: without it, String covers only
// %v, %s, %q, %x and %X, and "%d" would print the struct's field.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue hides the secret from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText hides the secret from encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText takes a secret in, from a request body: secrets are
// write-only, they come in and never go out.
func (s *Secret) UnmarshalText(text []byte) error {
	s.value = string(text)
	return nil
}

// Connection is a named way to reach S3.
type Connection struct {
	Name            string
	Kind            Kind
	AccessKeyID     string
	SecretAccessKey Secret
	SessionToken    Secret
	// Region is the default region of modules that use this connection.
	Region string
	// Endpoint is the URL of an S3-compatible store; empty means AWS.
	Endpoint string
	// PathStyle puts the bucket in the path instead of the host name.
	PathStyle bool
	// ChecksumMode is ChecksumWhenSupported or ChecksumWhenRequired.
	ChecksumMode string
	// MaxAttempts bounds the tries of each request (the SDK's standard
	// retryer: 500/502/503/504, throttling, resets). 0 leaves it to
	// AWS_MAX_ATTEMPTS, the AWS profile's max_attempts, or the SDK's 3.
	MaxAttempts int
	// PartSizeMiB and ParallelParts tune large uploads and downloads (0:
	// s3flow's defaults); a call's part_size and parallel_parts win.
	PartSizeMiB, ParallelParts int
	// AllowPrivate lets this connection's requests reach loopback and
	// private addresses (see netguard.Policy); link-local and metadata
	// addresses stay refused. Whoever resolves a connection for use sets
	// it: the CLI (run by the machine's own user) always, a server only
	// when started with --allow-private-endpoints. It is never stored.
	AllowPrivate bool
	// Source says where the credentials of a role, web-identity or
	// profile connection come from.
	Source Source
	// ExternalID is the role's external id, a secret of the role's owner.
	ExternalID Secret
	// SourceConn is the connection Source.SourceConnection names, with
	// its own source filled in: the Store resolves the chain when it
	// reads the connection. It is never stored.
	SourceConn *Connection
	// VerifyStatus is the outcome of the last verification, in words.
	VerifyStatus string
	CreatedAt    time.Time
	VerifiedAt   time.Time
}

// MaskedKeyID shows the access key id's last 4 characters only.
func (c Connection) MaskedKeyID() string {
	return MaskKeyID(c.AccessKeyID)
}

// MaskKeyID shows the last 4 characters of an access key id only.
func MaskKeyID(id string) string {
	if len(id) <= 4 {
		return "****"
	}
	return "****************"[:min(16, len(id)-4)] + id[len(id)-4:]
}

// LogValue keeps the key id masked and the secrets out of logs.
func (c Connection) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("kind", string(c.Kind)),
		slog.String("accessKeyId", c.MaskedKeyID()),
		slog.String("region", c.Region),
		slog.String("endpoint", c.Endpoint),
	)
}

func (c Connection) String() string {
	return fmt.Sprintf("connection %q (%s, key %s)", c.Name, c.Kind, c.MaskedKeyID())
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// ValidateName checks a connection name.
func ValidateName(name string) error {
	if name == EnvName || name == LocalName {
		return fmt.Errorf("connection name %q is reserved: that connection always exists", name)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("connection name %q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// DefaultChecksumMode is when-required for S3-compatible endpoints (many
// reject the SDK's CRC trailers) and when-supported for AWS.
func DefaultChecksumMode(endpoint string) string {
	if endpoint != "" {
		return ChecksumWhenRequired
	}
	return ChecksumWhenSupported
}
