package connection

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// CheckEndpoint is the one rule for a connection's endpoint, whatever
// interface gives it: an http:// or https:// URL naming a host (and maybe
// a port), nothing else. A login, a query, a fragment or a path would be
// sent with every signed request or change where it goes, so they are
// refused. It returns the endpoint as s3flow stores it: scheme://host[:port].
func CheckEndpoint(raw string) (string, error) {
	bad := func(rule string) (string, error) {
		return "", &EndpointError{Endpoint: raw, rule: rule}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return bad("must be an http:// or https:// URL such as https://s3.example.com or http://127.0.0.1:9000")
	}
	switch {
	case u.User != nil || strings.Contains(u.Host, "@"):
		return bad("must not hold a login (user@ or user:password@); give the keys with the connection's access key id and secret")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("must not have a query (?...)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment (#...)")
	case u.Path != "" && u.Path != "/":
		return bad("must not have a path: give the scheme, host and port only (buckets go in the path or the host name by themselves)")
	case u.Host == "":
		return bad("must name a host")
	}
	if err := checkHost(u); err != nil {
		return bad(err.Error())
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(), nil
}

// hostName is a DNS name (with the underscore some internal names use).
var hostName = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*\.?$`)

func checkHost(u *url.URL) error {
	host := u.Hostname()
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be from 1 to 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("port must be from 1 to 65535")
	}
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return fmt.Errorf("host must be a name, an IPv4 address or a bracketed IPv6 address without a zone")
		}
		return nil
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if len(host) > 253 || !hostName.MatchString(host) {
		return fmt.Errorf("host must be a name, an IPv4 address or a bracketed IPv6 address")
	}
	return nil
}

// EndpointError is an endpoint CheckEndpoint refused.
type EndpointError struct {
	Endpoint string
	rule     string
}

func (e *EndpointError) Error() string { return "endpoint: " + e.Rule() }

// Rule is the message without the field's name, for callers that name the
// field in their own way (an input error, a flag).
func (e *EndpointError) Rule() string { return fmt.Sprintf("%s, got %q", e.rule, e.Endpoint) }

var regionPattern = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

// CheckRegion is the one rule for a region, wherever it comes from (a
// connection, a module input, a flow, an S3 answer): 1-63 lower-case
// letters, digits and dashes. Regions become part of host names and of
// signatures; nothing else may ride in on one.
func CheckRegion(region string) error {
	if regionPattern.MatchString(region) {
		return nil
	}
	return &RegionError{Region: region}
}

// RegionError is a region CheckRegion refused.
type RegionError struct{ Region string }

func (e *RegionError) Error() string { return "region: " + e.Rule() }

// Rule is the message without the field's name, for callers that name the
// field in their own way (an input error, a flag).
func (e *RegionError) Rule() string {
	return fmt.Sprintf("must be 1-63 lower-case letters, digits and dashes (like eu-central-1), got %q", e.Region)
}
