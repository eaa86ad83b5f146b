package cli

import (
	"runtime/debug"
	"testing"
)

// TestBuildVersion: --version shows the module version and the commit the
// toolchain stamped, never a placeholder.
func TestBuildVersion(t *testing.T) {
	t.Parallel()
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"go install at a tag", debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{"a checkout", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: setting(
			"vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "true")},
			"(devel) (revision 0123456789ab, 2026-12-01T10:00:00Z, modified)"},
		{"a clean checkout", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261201100000-0123456789ab"}, Settings: setting(
			"vcs.revision", "0123456789abcdef0123", "vcs.modified", "false")},
			"v0.0.0-20261201100000-0123456789ab (revision 0123456789ab)"},
		{"nothing recorded", debug.BuildInfo{}, "(devel)"},
	} {
		if got := buildVersion(&tt.info); got != tt.want {
			t.Errorf("%s: buildVersion = %q, want %q", tt.name, got, tt.want)
		}
	}
}
