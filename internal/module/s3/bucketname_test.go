package s3

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
)

func TestValidateBucketName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule string // a part of the rule the error must name; "" means valid
	}{
		{"abc", ""},
		{"my-reports-2026", ""},
		{"logs.example.com", ""},
		{"1bucket", ""},
		{"a-b.c-d", ""},
		{"xn-one-dash", ""},
		{"s3alias-at-start", ""},
		{strings.Repeat("a", 63), ""},
		{"", "between 3 and 63"},
		{"ab", "between 3 and 63"},
		{strings.Repeat("a", 64), "between 3 and 63"},
		{"MyBucket", "lowercase letters"},
		{"my_bucket", "lowercase letters"},
		{"my bucket", "lowercase letters"},
		{"bucket/key", "lowercase letters"},
		{"café-bucket", "lowercase letters"},
		{"-bucket", "begin and end"},
		{"bucket-", "begin and end"},
		{".bucket", "begin and end"},
		{"bucket.", "begin and end"},
		{"my..bucket", "two adjacent periods"},
		{"192.168.5.4", "IP address"},
		{"10.0.0.1", "IP address"},
		{"xn--bucket", `prefix "xn--"`},
		{"sthree-bucket", `prefix "sthree-"`},
		{"amzn-s3-demo-bucket", `prefix "amzn-s3-demo-"`},
		{"bucket-s3alias", `suffix "-s3alias"`},
		{"bucket--ol-s3", `suffix "--ol-s3"`},
		{"bucket.mrap", `suffix ".mrap"`},
		{"bucket--x-s3", `suffix "--x-s3"`},
		{"bucket--table-s3", `suffix "--table-s3"`},
	} {
		err := ValidateBucketName(tc.name)
		if tc.rule == "" {
			if err != nil {
				t.Errorf("ValidateBucketName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		var ie *module.InputError
		if !errors.As(err, &ie) {
			t.Errorf("ValidateBucketName(%q) = %v, want an *module.InputError", tc.name, err)
			continue
		}
		if ie.Field != "name" || !strings.Contains(ie.Rule, tc.rule) {
			t.Errorf("ValidateBucketName(%q) = field %q rule %q, want field \"name\" and a rule naming %q", tc.name, ie.Field, ie.Rule, tc.rule)
		}
	}
}

// TestCreateBucketChecksName shows the naming rules apply to the module's
// input, before any request (no connection is given).
func TestCreateBucketChecksName(t *testing.T) {
	t.Parallel()
	_, err := CreateBucket.Check(map[string]any{"name": "Not_Valid"})
	var ie *module.InputError
	if !errors.As(err, &ie) || ie.Field != "name" {
		t.Fatalf("Check = %v, want an InputError on name", err)
	}
}

// FuzzValidateBucketName checks that every accepted name obeys the rules
// that are easy to state independently of the implementation.
func FuzzValidateBucketName(f *testing.F) {
	for _, s := range []string{"abc", "my..bucket", "1.2.3.4", "xn--a", "a-s3alias", "Ab", "a_b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateBucketName(name) != nil {
			return
		}
		if len(name) < 3 || len(name) > 63 {
			t.Fatalf("accepted %q of length %d", name, len(name))
		}
		if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			t.Fatalf("accepted %q with a character outside a-z 0-9 . -", name)
		}
		if strings.Contains(name, "..") || strings.ContainsAny(name[:1]+name[len(name)-1:], ".-") {
			t.Fatalf("accepted %q", name)
		}
	})
}
