package connection

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The kinds of connection whose credentials s3flow does not hold itself:
// it asks for them when they are used, and the AWS SDK's credential cache
// asks again before they expire.
const (
	// KindRole assumes a role with STS AssumeRole, on top of the keys it
	// holds, of another connection, or of the default chain.
	KindRole Kind = "role"
	// KindWebIdentity assumes a role with a web identity token read from
	// a file (Kubernetes service accounts, OIDC).
	KindWebIdentity Kind = "web-identity"
	// KindProfile uses a profile of the shared AWS config (SSO,
	// credential_process, role_arn with source_profile), read when used.
	KindProfile Kind = "profile"
)

// Role durations: STS's own bounds (a role's maximum session may be lower,
// which STS then says).
const (
	MinRoleDuration     = 15 * time.Minute
	MaxRoleDuration     = 12 * time.Hour
	DefaultRoleDuration = time.Hour
)

// MaxSourceDepth bounds a chain of source connections.
const MaxSourceDepth = 5

// Source says where the credentials of a role, web-identity or profile
// connection come from. Nothing in it is a secret (the external id is
// Connection.ExternalID); it is stored as JSON beside the connection.
type Source struct {
	RoleARN         string `json:"role_arn,omitempty"`
	RoleSessionName string `json:"role_session_name,omitempty"`
	// DurationSeconds is how long each set of role credentials lasts.
	DurationSeconds int `json:"duration_seconds,omitempty"`
	// STSEndpoint is where roles are assumed; empty means the
	// connection's own endpoint (S3-compatible stores such as MinIO serve
	// STS there), else AWS STS in the connection's region.
	STSEndpoint string `json:"sts_endpoint,omitempty"`
	// SourceConnection names the connection whose credentials assume the
	// role; empty with no keys means the default chain.
	SourceConnection     string `json:"source_connection,omitempty"`
	WebIdentityTokenFile string `json:"web_identity_token_file,omitempty"`
	Profile              string `json:"profile,omitempty"`
}

// Duration is how long each set of role credentials lasts.
func (s Source) Duration() time.Duration {
	if s.DurationSeconds == 0 {
		return DefaultRoleDuration
	}
	return time.Duration(s.DurationSeconds) * time.Second
}

// SessionName is the role session name STS records (in CloudTrail): the
// one given, else "s3flow-" and the connection's name.
func (c Connection) SessionName() string {
	if c.Source.RoleSessionName != "" {
		return c.Source.RoleSessionName
	}
	name := sessionNameUnsafe.ReplaceAllString("s3flow-"+c.Name, "-")
	return name[:min(len(name), 64)]
}

// STSEndpoint is where the connection's role is assumed: the one given,
// else the connection's own endpoint, else "" for AWS's.
func (c Connection) STSEndpoint() string {
	if c.Source.STSEndpoint != "" {
		return c.Source.STSEndpoint
	}
	return c.Endpoint
}

var (
	roleARNPattern     = regexp.MustCompile(`^arn:[a-z0-9-]+:[a-z0-9-]*:[a-z0-9-]*:[0-9a-zA-Z-]*:[\x21-\x7e]+$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	sessionNameUnsafe  = regexp.MustCompile(`[^\w+=,.@-]`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	profilePattern     = regexp.MustCompile(`^[\w.@+-]{1,128}$`)
)

// Kind is the kind of connection a spec asks for, from the fields it
// gives.
func (s Spec) Kind() Kind {
	switch {
	case s.Profile != "":
		return KindProfile
	case s.WebIdentityTokenFile != "":
		return KindWebIdentity
	case s.RoleARN != "":
		return KindRole
	}
	return KindKeys
}

// validateSource checks the fields of a role, web-identity or profile
// connection, and that a keys connection gives none of them.
func (c Connection) validateSource(ps *Problems) {
	src := c.Source
	hasKeys := c.AccessKeyID != "" || !c.SecretAccessKey.IsZero()
	roleKind := c.Kind == KindRole || c.Kind == KindWebIdentity
	if roleKind {
		switch {
		case src.RoleARN == "":
			ps.add(FieldRoleARN, "is required to assume a role")
		case !roleARNPattern.MatchString(src.RoleARN):
			ps.add(FieldRoleARN, "must be a role's ARN (arn:aws:iam::ACCOUNT:role/NAME), got %q", src.RoleARN)
		}
		if src.RoleSessionName != "" && !sessionNamePattern.MatchString(src.RoleSessionName) {
			ps.add(FieldRoleSessionName, "must be 2-64 letters, digits or +=,.@_-, got %q", src.RoleSessionName)
		}
		if d := src.Duration(); d < MinRoleDuration || d > MaxRoleDuration {
			ps.add(FieldDuration, "must be from %s to %s, got %s", MinRoleDuration, MaxRoleDuration, d)
		}
		var ee *EndpointError
		if _, err := CheckEndpoint(src.STSEndpoint); src.STSEndpoint != "" && errors.As(err, &ee) {
			ps.add(FieldSTSEndpoint, "%s", ee.Rule())
		}
	} else {
		for _, f := range []struct {
			field string
			given bool
		}{
			{FieldExternalID, !c.ExternalID.IsZero()}, {FieldRoleSessionName, src.RoleSessionName != ""},
			{FieldDuration, src.DurationSeconds != 0}, {FieldSTSEndpoint, src.STSEndpoint != ""},
			{FieldSourceConnection, src.SourceConnection != ""},
		} {
			if f.given {
				ps.add(f.field, "is for assuming a role: give the role's ARN too")
			}
		}
	}
	if id := c.ExternalID.Reveal(); id != "" && roleKind && (len(id) < 2 || len(id) > 1224 || !externalIDPattern.MatchString(id)) {
		// The value is a secret: the rule, not the value.
		ps.add(FieldExternalID, "must be 2-1224 letters, digits or +=,.@:/_-")
	}
	switch c.Kind {
	case KindRole:
		if src.SourceConnection != "" {
			if hasKeys {
				ps.add(FieldSourceConnection, "and access keys are two sources for the role's credentials: give one")
			} else if src.SourceConnection == LocalName || src.SourceConnection == c.Name || !namePattern.MatchString(src.SourceConnection) {
				ps.add(FieldSourceConnection, "must name another connection (not %q or local), got %q", c.Name, src.SourceConnection)
			}
		}
	case KindWebIdentity:
		if !filepath.IsAbs(src.WebIdentityTokenFile) {
			ps.add(FieldWebIdentityTokenFile, "must be an absolute path, got %q", src.WebIdentityTokenFile)
		}
		if hasKeys || src.SourceConnection != "" {
			ps.add(FieldWebIdentityTokenFile, "is the role's only source: give no access keys and no source connection with it")
		}
	case KindProfile:
		if !profilePattern.MatchString(src.Profile) {
			ps.add(FieldProfile, "must be a profile name of the shared AWS config (letters, digits, ._@+-), got %q", src.Profile)
		}
		if hasKeys || src.RoleARN != "" {
			ps.add(FieldProfile, "names its own credentials (keys, SSO, credential_process, role_arn with source_profile): give no access keys or role with it")
		}
	}
}

// Describe says in words where a connection's credentials come from,
// without a secret: what `connection show` and the Studio say.
func (c Connection) Describe() string {
	switch c.Kind {
	case KindKeys:
		if c.SessionToken.IsZero() {
			return "access keys"
		}
		return "access keys with a session token"
	case KindEnv:
		return "the AWS SDK's default credential chain"
	case KindLocal:
		return "the embedded endpoint's keys"
	case KindProfile:
		return fmt.Sprintf("profile %q of the shared AWS config", c.Source.Profile)
	case KindWebIdentity:
		return fmt.Sprintf("role %s assumed with the web identity token in %s", c.Source.RoleARN, c.Source.WebIdentityTokenFile)
	case KindRole:
		var from string
		switch {
		case c.AccessKeyID != "":
			from = "this connection's access keys"
		case c.Source.SourceConnection != "":
			from = fmt.Sprintf("connection %q", c.Source.SourceConnection)
		default:
			from = "the AWS SDK's default credential chain"
		}
		extra := ""
		if !c.ExternalID.IsZero() {
			extra = ", with an external id"
		}
		return fmt.Sprintf("role %s assumed with %s%s, for %s at a time", c.Source.RoleARN, from, extra, shortDuration(c.Source.Duration()))
	}
	return string(c.Kind)
}

func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// UsesMachine names the fields of a connection that reach the files or
// the credentials of the machine that uses it: a profile and the shared
// config it lives in, a token file, the default chain (as a role's source
// or through the env connection). A server's API refuses them unless its
// operator allows it: they would let an API caller use, or send to an
// endpoint of their choosing, what only the server's machine holds.
func (c Connection) UsesMachine() []string {
	var fields []string
	switch c.Kind {
	case KindProfile:
		fields = append(fields, FieldProfile)
	case KindWebIdentity:
		fields = append(fields, FieldWebIdentityTokenFile)
	case KindRole:
		if c.AccessKeyID == "" && (c.Source.SourceConnection == "" || c.Source.SourceConnection == EnvName) {
			fields = append(fields, FieldSourceConnection)
		}
	}
	return fields
}
