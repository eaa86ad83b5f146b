package s3

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

func TestCreateFolderKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string // want "" means an InputError
	}{
		{"work/new", "work/new/"},
		{"work/new/", "work/new/"},
		{"/work/new", "work/new/"},
		{"//work///new//", "work/new/"},
		{"new", "new/"},
		{"with space/ünï", "with space/ünï/"},
		{"", ""},
		{"/", ""},
		{"//", ""},
		{"work/../etc", ""},
		{"./work", ""},
		{"work/..", ""},
		{"work/.hidden", "work/.hidden/"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := folderKey(tc.in)
			if tc.want == "" {
				var input *module.InputError
				if !errors.As(err, &input) || input.Field != "path" {
					t.Fatalf("folderKey(%q) = %q, %v; want an InputError on path", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("folderKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzCreateFolderKey checks that every accepted path gives a marker key:
// no leading or doubled slash, one trailing slash, no . or .. segment, and
// the same key when given again.
func FuzzCreateFolderKey(f *testing.F) {
	for _, s := range []string{"work/new", "/a//b/", "", "/", "a/../b", "./", "...", "a/.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		key, err := folderKey(p)
		if err != nil {
			return
		}
		if key == "/" || strings.HasPrefix(key, "/") || !strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
			t.Fatalf("folderKey(%q) = %q", p, key)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(key, "/"), "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("folderKey(%q) = %q has a %q segment", p, key, seg)
			}
		}
		if again, err := folderKey(key); err != nil || again != key {
			t.Fatalf("folderKey(%q) = %q, %v; want the same key", key, again, err)
		}
	})
}

func TestCreateFolder(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, map[string]string{"work/old/a.txt": "a"})

			// The second, with slashes about, names the same folder: making
			// it again changes nothing.
			for _, path := range []string{"work/new", "/work//new/"} {
				got, err := run(t, tg, CreateFolder, map[string]any{"bucket": bucket, "path": path})
				if err != nil {
					t.Fatal(err)
				}
				if want := (module.Bundle{"bucket": bucket, "key": "work/new/"}); len(got) != 1 || !sameBundle(got[0], want) {
					t.Fatalf("create folder %q: bundles %v, want [%v]", path, got, want)
				}
			}

			folders, err := run(t, tg, ListFolders, map[string]any{"bucket": bucket, "prefix": "work"})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range folders {
				names = append(names, f["name"].(string))
			}
			if strings.Join(names, ",") != "new,old" {
				t.Errorf("folders in work: %q, want [new old]", names)
			}
			files, err := run(t, tg, ListFiles, map[string]any{"bucket": bucket, "prefix": "work/new", "recursive": true})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 0 {
				t.Errorf("files in the new folder: %v, want none (the marker is not a file)", files)
			}

			// The aws CLI sees one zero-byte marker object.
			listing := awsListing(t, tg, bucket, "work/new")
			if len(listing) != 1 || listing[0].Key != "work/new/" || listing[0].Size != 0 {
				t.Errorf("aws lists %+v under work/new, want one zero-byte work/new/", listing)
			}
			var head struct{ ContentLength int64 }
			if err := json.Unmarshal([]byte(tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", "work/new/")), &head); err != nil || head.ContentLength != 0 {
				t.Errorf("aws head-object work/new/: %+v, %v; want 0 bytes", head, err)
			}

			_, err = run(t, tg, CreateFolder, map[string]any{"bucket": bucket + "-missing", "path": "x"})
			if s3client.Code(err) != "NoSuchBucket" || !strings.Contains(err.Error(), `create folder "x/"`) {
				t.Errorf("in a missing bucket: %v, want NoSuchBucket saying what failed", err)
			}
		})
	}
}
