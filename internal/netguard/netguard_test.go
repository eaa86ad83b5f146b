package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	const (
		pub   = "public"
		priv  = "private"
		never = "never"
	)
	for _, tt := range []struct {
		addr string
		want string
	}{
		{"52.216.8.1", pub},
		{"8.8.8.8", pub},
		{"2600:1f18::1", pub},
		{"172.32.0.1", pub},
		{"100.128.0.1", pub},
		{"169.254.169.254", never},
		{"169.254.170.2", never},
		{"::ffff:169.254.169.254", never},
		{"::ffff:a9fe:a9fe", never},
		{"fd00:ec2::254", never},
		{"fe80::1", never},
		{"fe80::1%eth0", never},
		{"100.100.100.200", never},
		{"64:ff9b::a9fe:a9fe", never},
		{"2002:a9fe:a9fe::1", never},
		{"::169.254.169.254", never},
		{"224.0.0.1", never},
		{"ff02::1", never},
		{"127.0.0.1", priv},
		{"127.0.0.3", priv},
		{"::1", priv},
		{"::ffff:127.0.0.1", priv},
		{"0.0.0.0", priv},
		{"::", priv},
		{"10.1.2.3", priv},
		{"::ffff:10.1.2.3", priv},
		{"172.16.0.1", priv},
		{"172.31.255.255", priv},
		{"192.168.1.1", priv},
		{"100.64.0.1", priv},
		{"fc00::1", priv},
		{"fd12:3456::1", priv},
		{"64:ff9b::7f00:1", priv},
		{"2002:c0a8:0101::1", priv},
	} {
		ip := netip.MustParseAddr(tt.addr)
		strict, loose := Policy{}.Check(ip), Policy{AllowPrivate: true}.Check(ip)
		var got string
		switch {
		case strict == nil && loose == nil:
			got = pub
		case strict != nil && loose == nil:
			got = priv
		case strict != nil && loose != nil:
			got = never
		default:
			got = "allowed only when strict"
		}
		if got != tt.want {
			t.Errorf("%s: %s (strict %v, loose %v), want %s", tt.addr, got, strict, loose, tt.want)
		}
		if strict != nil && !errors.Is(strict, ErrRefused) {
			t.Errorf("%s: %v does not match ErrRefused", tt.addr, strict)
		}
	}
}

func TestRefusedMessages(t *testing.T) {
	t.Parallel()
	err := Policy{}.Check(netip.MustParseAddr("10.0.0.5"))
	if err == nil || !strings.Contains(err.Error(), "--allow-private-endpoints") {
		t.Errorf("private: %v, want the flag that allows it named", err)
	}
	err = Policy{AllowPrivate: true}.Check(netip.MustParseAddr("169.254.169.254"))
	if err == nil || !strings.Contains(err.Error(), "metadata") || strings.Contains(err.Error(), "--allow-private-endpoints") {
		t.Errorf("metadata: %v, want it refused without offering the flag", err)
	}
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		host    string
		refused bool
	}{
		{"localhost", true},
		{"LOCALHOST.", true},
		{"s3.localhost", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"169.254.169.254", true},
		{"s3.amazonaws.com", false}, // names are judged when dialled
		{"52.216.8.1", false},
	} {
		if err := (Policy{}).CheckHost(tt.host); (err != nil) != tt.refused {
			t.Errorf("CheckHost(%q) = %v, want refused %v", tt.host, err, tt.refused)
		}
	}
}

// TestControlChecksResolvedAddress dials a listening loopback port by the
// name "localhost": the name says nothing, the resolved address is
// refused; with private allowed the same dial connects.
func TestControlChecksResolvedAddress(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	target := net.JoinHostPort("localhost", port)

	d := net.Dialer{Control: Policy{}.Control}
	if c, err := d.DialContext(context.Background(), "tcp4", target); err == nil {
		c.Close()
		t.Fatalf("dial %s with the strict policy connected", target)
	} else if !errors.Is(err, ErrRefused) {
		t.Fatalf("dial %s: %v, want ErrRefused", target, err)
	}
	d = net.Dialer{Control: Policy{AllowPrivate: true}.Control}
	c, err := d.DialContext(context.Background(), "tcp4", target)
	if err != nil {
		t.Fatalf("dial %s with private allowed: %v", target, err)
	}
	c.Close()
}
