package didyoumean

import "testing"

func TestClosest(t *testing.T) {
	t.Parallel()
	options := []string{"webhook", "schedule", "watch_files", "timezone", "catch_up"}
	if got := Closest("kye", []string{"type", "key"}); got != "key" {
		t.Errorf(`Closest("kye") = %q, want "key" (one swap)`, got)
	}
	for _, tt := range []struct{ name, want string }{
		{"shedule", "schedule"},
		{"timezon", "timezone"},
		{"Schedule", "schedule"},
		{"watchfiles", "watch_files"},
		{"webhok", "webhook"},
		{"cron", ""},
		{"shcedule", "schedule"},
		{"catch", "catch_up"},
		{"ca", ""},
		{"x", ""},
		{"", ""},
	} {
		if got := Closest(tt.name, options); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
