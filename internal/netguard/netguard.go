// Package netguard decides which addresses s3flow's requests to S3
// endpoints may reach, and enforces it where connections are dialled: on
// the address DNS gave, so a name that resolves (or later re-resolves) to a
// forbidden address is refused like the address itself.
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// ErrRefused matches every refusal of the guard (errors.Is).
var ErrRefused = errors.New("address refused by s3flow's endpoint policy")

// Policy says which addresses may be dialled. The zero Policy is the
// strict one: public addresses only.
type Policy struct {
	// AllowPrivate lets requests reach loopback and private addresses
	// (127/8, ::1, 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7,
	// 0.0.0.0). Link-local and cloud metadata addresses stay refused.
	AllowPrivate bool
}

// RefusedError is one refused address, with the reason in words.
type RefusedError struct {
	Addr netip.Addr
	// Private is true when the policy could allow the address
	// (AllowPrivate); false for addresses that are never dialled.
	Private bool
	Reason  string
}

func (e *RefusedError) Error() string {
	if e.Private {
		return fmt.Sprintf("address %s is %s: private endpoints are refused here (a server allows them with --allow-private-endpoints)", e.Addr, e.Reason)
	}
	return fmt.Sprintf("address %s is %s: s3flow never sends requests there", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Check refuses ip when the policy does not allow it.
func (p Policy) Check(ip netip.Addr) error {
	ip = ip.WithZone("")
	reason, private := classify(ip)
	switch {
	case reason == "":
		return nil
	case private && p.AllowPrivate:
		return nil
	}
	return &RefusedError{Addr: ip, Private: private, Reason: reason}
}

// CheckHost refuses a host name that is an address the policy refuses, or
// "localhost", before any request; other names are checked when dialled.
func (p Policy) CheckHost(host string) error {
	if host = strings.ToLower(strings.TrimSuffix(host, ".")); host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return p.Check(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.Check(ip)
	}
	return nil
}

// Control is a net.Dialer Control function: it runs for every address a
// dial tries, after name resolution, and refuses the ones the policy does.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: the dialer always hands over ip:port for TCP.
		return fmt.Errorf("%w: cannot read the address %q (%s)", ErrRefused, address, network)
	}
	return p.Check(ap.Addr())
}

var (
	// never holds what no policy allows: link-local (where cloud metadata
	// services answer), other metadata addresses, and non-unicast.
	never = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
		{netip.MustParsePrefix("fe80::/10"), "link-local (cloud metadata)"},
		{netip.MustParsePrefix("fd00:ec2::254/128"), "the AWS metadata service"},
		{netip.MustParsePrefix("100.100.100.200/32"), "the Alibaba Cloud metadata service"},
		{netip.MustParsePrefix("168.63.129.16/32"), "the Azure platform service"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	private = []struct {
		prefix netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("0.0.0.0/8"), "this host (0.0.0.0)"},
		{netip.MustParsePrefix("::/128"), "this host (::)"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
		{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
		{netip.MustParsePrefix("fec0::/10"), "private (site-local)"},
	}
	// embedding are IPv6 forms that carry an IPv4 address a gateway or
	// the stack may reach: they are judged by that address.
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// classify says why ip is refused ("" for public addresses) and whether a
// policy may allow it.
func classify(ip netip.Addr) (reason string, allowable bool) {
	ip = ip.Unmap()
	if v4, ok := embeddedIPv4(ip); ok {
		if r, a := classify(v4); r != "" {
			return r + " (inside " + ip.String() + ")", a
		}
	}
	for _, n := range never {
		if n.prefix.Contains(ip) {
			return n.reason, false
		}
	}
	for _, n := range private {
		if n.prefix.Contains(ip) {
			return n.reason, true
		}
	}
	return "", false
}

// embeddedIPv4 returns the IPv4 address inside IPv4-compatible, NAT64 and
// 6to4 IPv6 addresses (IPv4-mapped ones are unmapped before).
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case ip == netip.IPv6Unspecified() || ip == netip.IPv6Loopback():
		return netip.Addr{}, false
	case ipv4Compatible.Contains(ip), nat64.Contains(ip), nat64Local.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
