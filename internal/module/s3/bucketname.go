package s3

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/s3flow/s3flow/internal/module"
)

// ValidateBucketName checks name against the AWS rules for new
// general-purpose buckets and names the first rule it breaks.
func ValidateBucketName(name string) error {
	fail := func(rule string) error {
		return &module.InputError{Field: "name", Rule: fmt.Sprintf("bucket name %q breaks the rule: %s", name, rule)}
	}
	if len(name) < 3 || len(name) > 63 {
		return fail("must be between 3 and 63 characters long")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return fail("may contain only lowercase letters, numbers, dots (.) and hyphens (-)")
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return fail("must begin and end with a letter or number")
	}
	if strings.Contains(name, "..") {
		return fail("must not contain two adjacent periods")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fail("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return fail(fmt.Sprintf("must not start with the prefix %q", p))
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return fail(fmt.Sprintf("must not end with the suffix %q", s))
		}
	}
	return nil
}

func isAlnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
