package connection

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// DefaultRegion is the region of a connection that names none (and of a
// call that names none on a connection without one).
const DefaultRegion = "us-east-1"

// The bounds of a connection's tuning. A call's own part_size and
// parallel_parts are held to the same bounds (module/s3).
const (
	MaxAttemptsLimit = 20
	MinPartSizeMiB   = 5 // S3's smallest part (but the last)
	MaxPartSizeMiB   = 5 << 10
	MaxParallelParts = 64
)

// The names of a connection's fields, as the API's JSON body gives them
// and as every Problem names them. The CLI ties each of its flags to one
// of these, so a problem names the flag there.
const (
	FieldName            = "name"
	FieldAccessKeyID     = "access_key_id"
	FieldSecretAccessKey = "secret_access_key"
	FieldSessionToken    = "session_token"
	FieldRegion          = "region"
	FieldEndpoint        = "endpoint"
	FieldPathStyle       = "path_style"
	FieldChecksum        = "checksum"
	FieldMaxAttempts     = "max_attempts"
	FieldPartSizeMiB     = "part_size_mib"
	FieldParallelParts   = "parallel_parts"
	FieldProvider        = "provider"
	FieldAccountID       = "account_id"

	FieldRoleARN              = "role_arn"
	FieldExternalID           = "external_id"
	FieldRoleSessionName      = "role_session_name"
	FieldDuration             = "duration_seconds"
	FieldSTSEndpoint          = "sts_endpoint"
	FieldSourceConnection     = "source_connection"
	FieldWebIdentityTokenFile = "web_identity_token_file"
	FieldProfile              = "profile"
)

// Problem is one thing wrong with one field of a connection. Rule says
// what, without the field's name, so that each interface names the field
// its own way (a flag, a JSON key) around the same words.
type Problem struct {
	Field string
	Rule  string
}

func (p *Problem) Error() string { return p.Field + ": " + p.Rule }

// Problems is every problem found with a connection, in the order of its
// fields.
type Problems []*Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

func (ps *Problems) add(field, format string, args ...any) {
	*ps = append(*ps, &Problem{Field: field, Rule: fmt.Sprintf(format, args...)})
}

func (ps Problems) has(field string) bool {
	return slices.ContainsFunc(ps, func(p *Problem) bool { return p.Field == field })
}

// err is nil when nothing was found: a nil Problems in an error would not be.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Spec is a connection as a user asks for one, from the CLI's flags or the
// API's JSON body: the same fields, the same rules. Build turns it into a
// Connection. The secrets are write-only: they decode from JSON and print
// as *** everywhere.
type Spec struct {
	Name            string `json:"name"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey Secret `json:"secret_access_key"`
	SessionToken    Secret `json:"session_token"`
	// Region empty means the provider's default region, else DefaultRegion.
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	// PathStyle nil means the provider's choice, else false.
	PathStyle *bool `json:"path_style"`
	// Checksum empty means the provider's choice, else DefaultChecksumMode.
	Checksum      string `json:"checksum"`
	MaxAttempts   int    `json:"max_attempts"`
	PartSizeMiB   int    `json:"part_size_mib"`
	ParallelParts int    `json:"parallel_parts"`
	// Provider names a preset (providers/*.yaml) that fills what the spec
	// leaves empty; AccountID fills its endpoint pattern.
	Provider  string `json:"provider"`
	AccountID string `json:"account_id"`

	// RoleARN makes a connection that assumes a role, with its keys (if
	// it has any), with SourceConnection's credentials, or with the
	// default chain's; or, with WebIdentityTokenFile, with a web identity
	// token. ExternalID is write-only like the keys.
	RoleARN              string `json:"role_arn"`
	ExternalID           Secret `json:"external_id"`
	RoleSessionName      string `json:"role_session_name"`
	DurationSeconds      int    `json:"duration_seconds"`
	STSEndpoint          string `json:"sts_endpoint"`
	SourceConnection     string `json:"source_connection"`
	WebIdentityTokenFile string `json:"web_identity_token_file"`
	// Profile makes a connection that uses a profile of the shared AWS
	// config.
	Profile string `json:"profile"`
}

// Build checks a spec by every rule (Validate's and the provider's) and
// returns the connection it describes with the defaults filled in, or
// every problem at once.
func (s Spec) Build() (Connection, error) {
	c := Connection{
		Name: s.Name, Kind: s.Kind(), AccessKeyID: s.AccessKeyID,
		SecretAccessKey: NewSecret(strings.TrimSpace(s.SecretAccessKey.Reveal())),
		SessionToken:    NewSecret(strings.TrimSpace(s.SessionToken.Reveal())),
		Region:          s.Region, Endpoint: s.Endpoint, ChecksumMode: s.Checksum,
		MaxAttempts: s.MaxAttempts, PartSizeMiB: s.PartSizeMiB, ParallelParts: s.ParallelParts,
		ExternalID: NewSecret(strings.TrimSpace(s.ExternalID.Reveal())),
		Source: Source{
			RoleARN: s.RoleARN, RoleSessionName: s.RoleSessionName, DurationSeconds: s.DurationSeconds,
			STSEndpoint: s.STSEndpoint, SourceConnection: s.SourceConnection,
			WebIdentityTokenFile: s.WebIdentityTokenFile, Profile: s.Profile,
		},
	}
	if c.Source.STSEndpoint != "" {
		if ep, err := CheckEndpoint(c.Source.STSEndpoint); err == nil {
			c.Source.STSEndpoint = ep
		}
	}
	if s.PathStyle != nil {
		c.PathStyle = *s.PathStyle
	}
	var ps Problems
	if s.Provider != "" {
		presets, err := Providers()
		if err != nil {
			return Connection{}, err
		}
		if i := slices.IndexFunc(presets, func(p Provider) bool { return p.Name == s.Provider }); i < 0 {
			ps.add(FieldProvider, "must be one of %s, got %q", providerNames(presets), s.Provider)
		} else {
			ps = append(ps, presets[i].apply(&c, s.AccountID, s.PathStyle != nil)...)
		}
	} else if s.AccountID != "" {
		ps.add(FieldAccountID, "goes with a provider whose endpoint names it (such as r2)")
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if ep, err := CheckEndpoint(c.Endpoint); c.Endpoint != "" && err == nil {
		c.Endpoint = ep
	}
	if c.ChecksumMode == "" {
		c.ChecksumMode = DefaultChecksumMode(c.Endpoint)
	}
	// The provider's problems and Validate's can name the same field (an
	// endpoint the preset could not fill, then none at all); one each.
	for _, p := range asProblems(c.Validate()) {
		if !ps.has(p.Field) {
			ps = append(ps, p)
		}
	}
	slices.SortStableFunc(ps, func(a, b *Problem) int { return fieldOrder(a.Field) - fieldOrder(b.Field) })
	return c, ps.err()
}

func asProblems(err error) Problems {
	var ps Problems
	errors.As(err, &ps)
	return ps
}

var fieldsInOrder = []string{FieldName, FieldAccessKeyID, FieldSecretAccessKey, FieldSessionToken,
	FieldRoleARN, FieldExternalID, FieldRoleSessionName, FieldDuration, FieldSTSEndpoint, FieldSourceConnection,
	FieldWebIdentityTokenFile, FieldProfile, FieldProvider, FieldAccountID,
	FieldRegion, FieldEndpoint, FieldPathStyle, FieldChecksum, FieldMaxAttempts, FieldPartSizeMiB, FieldParallelParts}

func fieldOrder(field string) int { return slices.Index(fieldsInOrder, field) }

// Validate checks a connection, as a user creates it, by every
// rule s3flow has for one: whatever interface it came from (the CLI, the
// API, the Studio), these are the rules and the words. It returns
// Problems, one per field that breaks a rule, or nil.
func (c Connection) Validate() error {
	var ps Problems
	if c.Name == "" {
		ps.add(FieldName, "is required")
	} else if err := ValidateName(c.Name); err != nil {
		ps.add(FieldName, "%s", err)
	}
	if !c.Kind.Creatable() {
		// env and local always exist; nobody creates them.
		ps.add(FieldName, "must name a connection with keys, a role or a profile, not one of kind %q", c.Kind)
	}
	// A role connection may hold keys to assume it with: both or neither.
	keysRequired := c.Kind == KindKeys || (c.Kind == KindRole && (c.AccessKeyID != "" || !c.SecretAccessKey.IsZero()))
	switch {
	case c.AccessKeyID == "" && keysRequired:
		ps.add(FieldAccessKeyID, "is required")
	case strings.ContainsFunc(c.AccessKeyID, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		// It is sent in every request's Authorization header.
		ps.add(FieldAccessKeyID, "must not hold spaces or control characters")
	}
	if c.SecretAccessKey.IsZero() && keysRequired {
		ps.add(FieldSecretAccessKey, "is required")
	}
	c.validateSource(&ps)
	if !c.SessionToken.IsZero() && (c.AccessKeyID == "" || c.SecretAccessKey.IsZero()) {
		ps.add(FieldSessionToken, "goes with an access key id and a secret access key")
	}
	var re *RegionError
	if err := CheckRegion(c.Region); errors.As(err, &re) {
		ps.add(FieldRegion, "%s", re.Rule())
	}
	var ee *EndpointError
	if _, err := CheckEndpoint(c.Endpoint); c.Endpoint != "" && errors.As(err, &ee) {
		ps.add(FieldEndpoint, "%s", ee.Rule())
	}
	if c.ChecksumMode != ChecksumWhenRequired && c.ChecksumMode != ChecksumWhenSupported {
		ps.add(FieldChecksum, "must be %s or %s, got %q", ChecksumWhenRequired, ChecksumWhenSupported, c.ChecksumMode)
	}
	if c.MaxAttempts < 0 || c.MaxAttempts > MaxAttemptsLimit {
		ps.add(FieldMaxAttempts, "must be from 1 to %d (or 0 for the default), got %d", MaxAttemptsLimit, c.MaxAttempts)
	}
	if c.PartSizeMiB != 0 && (c.PartSizeMiB < MinPartSizeMiB || c.PartSizeMiB > MaxPartSizeMiB) {
		ps.add(FieldPartSizeMiB, "must be from %d to %d MiB (or 0 for the default), got %d", MinPartSizeMiB, MaxPartSizeMiB, c.PartSizeMiB)
	}
	if c.ParallelParts < 0 || c.ParallelParts > MaxParallelParts {
		ps.add(FieldParallelParts, "must be from 1 to %d (or 0 for the default), got %d", MaxParallelParts, c.ParallelParts)
	}
	return ps.err()
}

// Summary is a connection as every interface shows it (the CLI's list and
// show, the API's answers, the Studio's table): what it is, never a
// secret. The access key id is masked; the session token is only said to
// be there.
type Summary struct {
	Name          string `json:"name"`
	Kind          Kind   `json:"kind"`
	AccessKeyID   string `json:"accessKeyId"`
	Region        string `json:"region"`
	Endpoint      string `json:"endpoint"`
	PathStyle     bool   `json:"pathStyle"`
	Checksum      string `json:"checksum"`
	Status        string `json:"status"`
	MaxAttempts   int    `json:"maxAttempts,omitempty"`
	PartSizeMiB   int    `json:"partSizeMiB,omitempty"`
	ParallelParts int    `json:"parallelParts,omitempty"`
	SessionToken  bool   `json:"sessionToken"`
	// Credentials says where the credentials come from, in words.
	Credentials          string     `json:"credentials"`
	RoleARN              string     `json:"roleArn,omitempty"`
	ExternalID           bool       `json:"externalId,omitempty"`
	RoleSessionName      string     `json:"roleSessionName,omitempty"`
	DurationSeconds      int        `json:"durationSeconds,omitempty"`
	STSEndpoint          string     `json:"stsEndpoint,omitempty"`
	SourceConnection     string     `json:"sourceConnection,omitempty"`
	WebIdentityTokenFile string     `json:"webIdentityTokenFile,omitempty"`
	Profile              string     `json:"profile,omitempty"`
	VerifiedAt           *time.Time `json:"verifiedAt,omitempty"`
	CreatedAt            *time.Time `json:"createdAt,omitempty"`
}

// Summary is how the connection is shown.
func (c Connection) Summary() Summary {
	s := Summary{
		Name: c.Name, Kind: c.Kind, Region: c.Region, Endpoint: c.Endpoint, PathStyle: c.PathStyle,
		Checksum: c.ChecksumMode, Status: c.VerifyStatus,
		MaxAttempts: c.MaxAttempts, PartSizeMiB: c.PartSizeMiB, ParallelParts: c.ParallelParts,
		SessionToken: !c.SessionToken.IsZero(),
		Credentials:  c.Describe(), RoleARN: c.Source.RoleARN, ExternalID: !c.ExternalID.IsZero(),
		STSEndpoint: c.Source.STSEndpoint, SourceConnection: c.Source.SourceConnection,
		WebIdentityTokenFile: c.Source.WebIdentityTokenFile, Profile: c.Source.Profile,
	}
	if c.Kind == KindRole || c.Kind == KindWebIdentity {
		s.RoleSessionName, s.DurationSeconds = c.SessionName(), int(c.Source.Duration()/time.Second)
	}
	if c.AccessKeyID != "" {
		s.AccessKeyID = c.MaskedKeyID()
	}
	if !c.VerifiedAt.IsZero() {
		s.VerifiedAt = new(c.VerifiedAt.UTC())
	}
	if !c.CreatedAt.IsZero() {
		s.CreatedAt = new(c.CreatedAt.UTC())
	}
	return s
}
