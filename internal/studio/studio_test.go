package studio

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

// TestServes: the page at /, its files with the content types browsers
// need (a module script served as text/plain does not run), the security
// headers, and 404 for anything else.
func TestServes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/index.html", "text/html; charset=utf-8", "s3flow Studio"},
		{"/app.js", "text/javascript; charset=utf-8", "import"},
		{"/modules.js", "text/javascript; charset=utf-8", "/api/modules"},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp := get(t, tc.path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", tc.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: no %q in the body", tc.path, tc.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", tc.path)
		}
	}
	for _, path := range []string{"/nope.js", "/api/unknown", "/../studio.go", "/assets/app.js"} {
		if resp := get(t, path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestSelfContained: every file the page loads is embedded, and nothing
// is loaded from another origin (the Studio works offline).
func TestSelfContained(t *testing.T) {
	t.Parallel()
	root, _ := fs.Sub(assets, "assets")
	refs := regexp.MustCompile(`(?:from\s+|import\s*\(\s*|src=|href=)['"]([^'"#]+)['"]`)
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)
	err := fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := fs.ReadFile(root, name)
		for _, m := range refs.FindAllStringSubmatch(string(data), -1) {
			ref := strings.TrimPrefix(m[1], "./")
			if strings.HasPrefix(ref, "/api/") || strings.HasPrefix(ref, "?") {
				continue
			}
			if _, err := fs.Stat(root, ref); err != nil {
				t.Errorf("%s refers to %q, which is not embedded", name, m[1])
			}
		}
		if strings.HasSuffix(name, ".svg") {
			return nil // the xmlns is a name, not a request
		}
		if loc := external.FindString(string(data)); loc != "" {
			t.Errorf("%s names another origin: %q", name, loc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
