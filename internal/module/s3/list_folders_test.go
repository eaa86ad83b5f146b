package s3

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3test"
)

// folders returns the prefix and name outputs of list-folders bundles.
func folders(t *testing.T, bundles []module.Bundle) (prefixes, names []string) {
	t.Helper()
	for i, b := range bundles {
		p, ok1 := b["prefix"].(string)
		n, ok2 := b["name"].(string)
		if !ok1 || !ok2 {
			t.Fatalf("bundle %d = %v, want string prefix and name", i, b)
		}
		prefixes, names = append(prefixes, p), append(names, n)
	}
	return prefixes, names
}

func TestListFolders(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			// No folder has a marker object except "marked/": the others
			// exist only as prefixes of keys. S3 sorts by bytes, so
			// "reports-old/" ('-' is 0x2D) comes before "reports/" ('/' 0x2F).
			seedObjects(t, tg, bucket, map[string]string{
				"top.txt":                "t",
				"work/readme.txt":        "r",
				"work/reports/a.csv":     "a",
				"work/reports/sub/b.csv": "b",
				"work/reports-old/c.csv": "c",
				"work/2019/q1/d.csv":     "d",
				"marked/":                "",
				"with space/e.txt":       "e",
			})
			work := []string{"work/2019/", "work/reports-old/", "work/reports/"}
			for _, tc := range []struct {
				prefix string
				limit  int64
				all    []string // every folder, in S3's order; a limit keeps the first ones
			}{
				{prefix: "", all: []string{"marked/", "with space/", "work/"}},
				{prefix: "/", all: []string{"marked/", "with space/", "work/"}},
				{prefix: "work", all: work},
				{prefix: "/work/", all: work},
				{prefix: "work/reports", all: []string{"work/reports/sub/"}},
				{prefix: "work/2019", all: []string{"work/2019/q1/"}},
				{prefix: "work/reports/sub", all: nil},
				{prefix: "nothing-here", all: nil},
				{prefix: "work", limit: 2, all: work},
				{prefix: "work", limit: 1, all: work},
				{prefix: "work", limit: 10, all: work},
			} {
				t.Run(fmt.Sprintf("%q/limit=%d", tc.prefix, tc.limit), func(t *testing.T) {
					got, err := run(t, tg, ListFolders, map[string]any{"bucket": bucket, "prefix": tc.prefix, "limit": tc.limit})
					if err != nil {
						t.Fatal(err)
					}
					want := folderOrder(tg, tc.all)
					if tc.limit > 0 && int(tc.limit) < len(want) {
						want = want[:tc.limit]
					}
					prefixes, names := folders(t, got)
					if !slices.Equal(prefixes, want) {
						t.Fatalf("prefixes = %q, want %q", prefixes, want)
					}
					for i, p := range prefixes {
						// The name is the last segment: "work/reports-old/" → "reports-old".
						want := p[:len(p)-1]
						want = want[strings.LastIndex(want, "/")+1:]
						if names[i] != want {
							t.Errorf("name of %q = %q, want %q", p, names[i], want)
						}
					}
				})
			}
		})
	}
}

// folderOrder returns prefixes (given in S3's order) in the order tg lists
// them. S3, versitygw and the local endpoint sort by the bytes of the whole
// prefix, so "reports-old/" ('-' is 0x2D) comes before "reports/" ('/' is
// 0x2F). SeaweedFS lists its directory tree: the entries of a folder sorted
// by name, without the "/", so "reports" comes before "reports-old"
// (docs/compatibility.md). s3flow keeps the server's order.
func folderOrder(tg s3test.Target, prefixes []string) []string {
	if tg.Name != "seaweedfs" {
		return prefixes
	}
	return slices.SortedFunc(slices.Values(prefixes), func(a, b string) int {
		return strings.Compare(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
	})
}

// TestListFoldersNames pins the name of a few folders literally, so the
// rule in TestListFolders cannot drift together with the code.
func TestListFoldersNames(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			seedObjects(t, tg, bucket, map[string]string{
				"work/reports/a.csv":     "a",
				"work/reports-old/c.csv": "c",
			})
			got, err := run(t, tg, ListFolders, map[string]any{"bucket": bucket, "prefix": "work"})
			if err != nil {
				t.Fatal(err)
			}
			_, names := folders(t, got)
			want := []string{"reports-old", "reports"}
			if tg.Name == "seaweedfs" {
				// SeaweedFS lists in directory order (see folderOrder).
				want = []string{"reports", "reports-old"}
			}
			if !slices.Equal(names, want) {
				t.Errorf("names = %q, want %q", names, want)
			}
		})
	}
}

// TestListURLEncodedKeys: listings ask for URL-encoded keys, so keys XML
// cannot carry (U+0001) survive; a page is decoded only when the server
// says it encoded it. A fake server answers like S3 does, since versitygw
// ignores encoding-type.
func TestListURLEncodedKeys(t *testing.T) {
	const contents = `<Contents><Key>%s</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>1</Size></Contents>` +
		`<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>`
	for _, tc := range []struct {
		name, encodingType, key, prefix string
		wantKey, wantPrefix, wantName   string
	}{
		{"encoded", "url", "dir/ctl%01key+a%2Bb%3Dc.txt", "dir%2Fsub+folder%2B1%2F",
			"dir/ctl\x01key a+b=c.txt", "dir/sub folder+1/", "sub folder+1"},
		{"not encoded", "", "dir/a+b=c%25.txt", "dir/x+y%/",
			"dir/a+b=c%25.txt", "dir/x+y%/", "x+y%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg, seen := fakeS3(t, "us-east-1", func(w http.ResponseWriter, r seenRequest) {
				w.Header().Set("Content-Type", "application/xml")
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>demo</Name><Prefix>dir/</Prefix>`+
					`<EncodingType>%s</EncodingType><IsTruncated>false</IsTruncated>`+contents+`</ListBucketResult>`,
					tc.encodingType, tc.key, tc.prefix)
			})
			files, err := run(t, tg, ListFiles, map[string]any{"bucket": "demo", "prefix": "dir"})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0]["key"] != tc.wantKey {
				t.Errorf("list-files: %v, want key %q", files, tc.wantKey)
			}
			dirs, err := run(t, tg, ListFolders, map[string]any{"bucket": "demo", "prefix": "dir"})
			if err != nil {
				t.Fatal(err)
			}
			if len(dirs) != 1 || dirs[0]["prefix"] != tc.wantPrefix || dirs[0]["name"] != tc.wantName {
				t.Errorf("list-folders: %v, want prefix %q name %q", dirs, tc.wantPrefix, tc.wantName)
			}
			for _, r := range seen() {
				if !strings.Contains(r.Query, "encoding-type=url") {
					t.Errorf("request %s?%s does not ask for encoding-type=url", r.Path, r.Query)
				}
			}
		})
	}
}
