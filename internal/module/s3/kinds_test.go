package s3

import "testing"

// TestFieldKindsDeclared: a field that names a bucket, a folder or a file
// in a bucket says so by its kind, so the Studio's pickers and the CLI's
// completion find it from the declaration. A new field of that meaning
// without its kind fails here.
func TestFieldKindsDeclared(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"bucket": "bucket", "to_bucket": "bucket",
		"prefix": "folder", "folder": "folder",
		"path": "objectKey", "to_path": "objectKey",
	}
	for _, m := range Modules() {
		for _, f := range m.Fields {
			kind, ok := want[f.Name]
			if m.Name == "s3.create_folder" && f.Name == "path" {
				kind = "folder" // the folder to make
			}
			if m.Name == "s3.api_call" && f.Name == "path" {
				ok = false
			}
			if ok && f.Kind.String() != kind {
				t.Errorf("%s.%s is of kind %q, want %q", m.Name, f.Name, f.Kind, kind)
			}
		}
	}
}
