package connection

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw, want, wantErr string
	}{
		{raw: "https://s3.example.com", want: "https://s3.example.com"},
		{raw: "https://s3.example.com/", want: "https://s3.example.com"},
		{raw: "http://127.0.0.1:9000", want: "http://127.0.0.1:9000"},
		{raw: "HTTP://minio.internal:9000/", want: "http://minio.internal:9000"},
		{raw: "http://[::1]:9000", want: "http://[::1]:9000"},
		{raw: "https://acc-123.r2.cloudflarestorage.com", want: "https://acc-123.r2.cloudflarestorage.com"},
		{raw: "http://s3_gw.local:8333", want: "http://s3_gw.local:8333"},
		{raw: "ftp://example.com", wantErr: "must be an http:// or https:// URL"},
		{raw: "example.com:9000", wantErr: "must be an http:// or https:// URL"},
		{raw: "http:example.com", wantErr: "must be an http:// or https:// URL"},
		{raw: "", wantErr: "must be an http:// or https:// URL"},
		{raw: "http://", wantErr: "must name a host"},
		{raw: "http://:9000", wantErr: "host must be"},
		{raw: "http://user:pass@127.0.0.1:9000", wantErr: "must not hold a login"},
		{raw: "http://evil.com@127.0.0.1", wantErr: "must not hold a login"},
		{raw: "http://@127.0.0.1", wantErr: "must not hold a login"},
		{raw: "https://s3.example.com?x=1", wantErr: "must not have a query"},
		{raw: "https://s3.example.com?", wantErr: "must not have a query"},
		{raw: "https://s3.example.com#frag", wantErr: "must not have a fragment"},
		{raw: "https://s3.example.com#", wantErr: "must not have a fragment"},
		{raw: "https://s3.example.com/bucket", wantErr: "must not have a path"},
		{raw: "https://s3.example.com//evil.com", wantErr: "must not have a path"},
		{raw: "http://127.0.0.1:99999", wantErr: "port must be"},
		{raw: "http://127.0.0.1:", wantErr: "port must be"},
		{raw: "http://[fe80::1%25eth0]:80", wantErr: "without a zone"},
		{raw: "http://exa mple.com", wantErr: "endpoint:"},
		{raw: "http://exa%2fmple.com", wantErr: "endpoint:"},
		{raw: "http://a..b", wantErr: "host must be"},
	} {
		got, err := CheckEndpoint(tt.raw)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckEndpoint(%q) = %q, %v; want an error with %q", tt.raw, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CheckEndpoint(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

func TestCheckRegion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		region string
		ok     bool
	}{
		{"us-east-1", true},
		{"eu-central-1", true},
		{"auto", true},
		{"default", true},
		{"us-west-004", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"EU-CENTRAL-1", false},
		{"x@127.0.0.3:8443/p?", false},
		{"eu.evil.com", false},
		{"us-east-1/", false},
		{"us east 1", false},
		{"us-east-1\n", false},
	} {
		err := CheckRegion(tt.region)
		if (err == nil) != tt.ok {
			t.Errorf("CheckRegion(%q) = %v, want ok %v", tt.region, err, tt.ok)
		}
		var re *RegionError
		if err != nil && (!errors.As(err, &re) || !strings.HasPrefix(err.Error(), "region: must be 1-63 lower-case letters, digits and dashes (like eu-central-1), got ")) {
			t.Errorf("CheckRegion(%q) = %v, want a RegionError in words", tt.region, err)
		}
	}
}

// TestProviderRefusesInjection: the region and account id become part of
// a preset's host name, so they are checked before they are put in.
func TestProviderRefusesInjection(t *testing.T) {
	t.Parallel()
	for _, spec := range []Spec{
		{Provider: "wasabi", Region: "x@127.0.0.3:8443/p?"},
		{Provider: "r2", AccountID: "evil.com/x?"},
	} {
		spec.Name, spec.AccessKeyID, spec.SecretAccessKey = "p", "AKID", NewSecret("s")
		if c, err := spec.Build(); err == nil || c.Endpoint != "" {
			t.Errorf("%s with region %q, account id %q: %v, endpoint %q; want refused", spec.Provider, spec.Region, spec.AccountID, err, c.Endpoint)
		}
	}
}
