package s3

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
	"github.com/s3flow/s3flow/internal/s3test"
)

func TestCheckTags(t *testing.T) {
	t.Parallel()
	n := func(count int) []module.Pair {
		tags := make([]module.Pair, count)
		for i := range tags {
			tags[i] = module.Pair{Name: fmt.Sprintf("k%d", i), Value: "v"}
		}
		return tags
	}
	for _, tc := range []struct {
		name    string
		tags    []module.Pair
		wantErr string // "" means valid
	}{
		{name: "none", tags: nil},
		{name: "ten", tags: n(10)},
		{name: "eleven", tags: n(11), wantErr: "11 tags given; a file may have at most 10"},
		{name: "key of 128", tags: []module.Pair{{Name: strings.Repeat("k", 128), Value: "v"}}},
		// Characters, not bytes: 128 é are 256 bytes.
		{name: "key of 128 é", tags: []module.Pair{{Name: strings.Repeat("é", 128), Value: "v"}}},
		{name: "key of 129", tags: []module.Pair{{Name: strings.Repeat("k", 129), Value: "v"}}, wantErr: "is 129 characters; at most 128"},
		{name: "value of 256", tags: []module.Pair{{Name: "k", Value: strings.Repeat("日", 256)}}},
		{name: "value of 257", tags: []module.Pair{{Name: "k", Value: strings.Repeat("v", 257)}}, wantErr: `the value of "k" is 257 characters; at most 256`},
		{name: "empty value", tags: []module.Pair{{Name: "draft", Value: ""}}},
		{name: "empty key", tags: []module.Pair{{Name: "", Value: "v"}}, wantErr: "may not be empty"},
		{name: "twice", tags: []module.Pair{{Name: "team", Value: "a"}, {Name: "other", Value: "x"}, {Name: "team", Value: "b"}}, wantErr: `the key "team" is given twice`},
		{name: "case differs", tags: []module.Pair{{Name: "Team", Value: "a"}, {Name: "team", Value: "b"}}},
		{name: "aws prefix", tags: []module.Pair{{Name: "AWS:owner", Value: "me"}}, wantErr: "reserves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTags(tc.tags)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkTags = %v, want nil", err)
				}
				return
			}
			var input *module.InputError
			if !errors.As(err, &input) || input.Field != "tags" || !strings.Contains(input.Rule, tc.wantErr) {
				t.Fatalf("checkTags = %v, want an InputError on tags saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestSetTagsCheck: the limits hold for tags from the command line (pairs,
// where a key can repeat) and from flows (a map), before any request.
func TestSetTagsCheck(t *testing.T) {
	t.Parallel()
	pairs, err := module.ParsePairs([]string{"team=finance", "expr=a=b", "team=ops"}, "=")
	if err != nil {
		t.Fatal(err)
	}
	if pairs[1] != (module.Pair{Name: "expr", Value: "a=b"}) {
		t.Errorf("--tag expr=a=b parsed as %+v, want the value a=b", pairs[1])
	}
	_, err = SetTags.Check(map[string]any{"bucket": "demo", "path": "a.csv", "tags": pairs})
	var input *module.InputError
	if !errors.As(err, &input) || input.Field != "tags" {
		t.Errorf("a repeated --tag: %v, want an InputError on tags", err)
	}
	many := map[string]any{}
	for i := range 11 {
		many[fmt.Sprint("k", i)] = i
	}
	if _, err := SetTags.Check(map[string]any{"bucket": "demo", "path": "a.csv", "tags": many}); !errors.As(err, &input) {
		t.Errorf("11 tags in a map: %v, want an InputError", err)
	}
	in, err := SetTags.Check(map[string]any{"bucket": "demo", "path": "a.csv", "tags": map[string]any{"year": 2026, "team": "finance"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Pairs("tags"); len(got) != 2 || got[1] != (module.Pair{Name: "year", Value: "2026"}) {
		t.Errorf("tags from a map: %+v", got)
	}
	if _, err := GetTags.Check(map[string]any{"bucket": "demo", "path": "reports/"}); !errors.As(err, &input) || input.Field != "path" {
		t.Errorf("get tags of a folder: %v, want an InputError on path", err)
	}
}

func TestTags(t *testing.T) {
	for _, tg := range s3test.Targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			bucket := tg.Bucket(t)
			key := "reports/q3 (final).csv"
			seedObjects(t, tg, bucket, map[string]string{key: "a,b\n"})
			path := "/" + key

			set := func(tags map[string]any) map[string]string {
				t.Helper()
				got, err := run(t, tg, SetTags, map[string]any{"bucket": bucket, "path": path, "tags": tags})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0]["bucket"] != bucket || got[0]["key"] != key {
					t.Fatalf("set tags: bundles %v", got)
				}
				return got[0]["tags"].(map[string]string)
			}
			get := func() map[string]string {
				t.Helper()
				got, err := run(t, tg, GetTags, map[string]any{"bucket": bucket, "path": path})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0]["key"] != key {
					t.Fatalf("get tags: bundles %v", got)
				}
				if _, ok := got[0]["versionId"].(string); !ok {
					t.Errorf("versionId is %T, want a string", got[0]["versionId"])
				}
				return got[0]["tags"].(map[string]string)
			}

			if tags := get(); len(tags) != 0 {
				t.Errorf("a new file has tags %v, want none", tags)
			}
			note := "a+b=c é"
			if tg.Name == "minio" {
				// MinIO takes only ASCII letters and digits, space and
				// + - = . _ : / @ in tags, where AWS takes any UTF-8 letter
				// (docs/compatibility.md); s3flow passes its refusal on.
				_, err := run(t, tg, SetTags, map[string]any{"bucket": bucket, "path": path, "tags": map[string]any{"note": note}})
				if s3client.Code(err) != "InvalidTag" {
					t.Errorf("minio, a tag value with é: %v, want InvalidTag", err)
				}
				note = "a+b=c"
			}
			want := map[string]string{"team": "finance", "cost center": "42", "note": note, "draft": ""}
			if got := set(map[string]any{"team": "finance", "cost center": 42, "note": note, "draft": ""}); !maps.Equal(got, want) {
				t.Errorf("set tags says %v, want %v", got, want)
			}
			if got := get(); !maps.Equal(got, want) {
				t.Errorf("get tags: %v, want %v", got, want)
			}
			if got := awsTags(t, tg, bucket, key); !maps.Equal(got, want) {
				t.Errorf("aws get-object-tagging: %v, want %v", got, want)
			}

			// A set replaces all tags: the old keys are gone.
			want = map[string]string{"stage": "final"}
			set(map[string]any{"stage": "final"})
			if got := awsTags(t, tg, bucket, key); !maps.Equal(got, want) {
				t.Errorf("after replacing, aws: %v, want %v", got, want)
			}

			// No tags clears them.
			if got := set(map[string]any{}); len(got) != 0 {
				t.Errorf("set no tags says %v", got)
			}
			if got := get(); len(got) != 0 {
				t.Errorf("after clearing, get tags: %v, want none", got)
			}
			if got := awsTags(t, tg, bucket, key); len(got) != 0 {
				t.Errorf("after clearing, aws: %v, want none", got)
			}

			_, err := run(t, tg, GetTags, map[string]any{"bucket": bucket, "path": "missing.csv"})
			if s3client.Code(err) != "NoSuchKey" || !strings.Contains(err.Error(), `"missing.csv"`) {
				t.Errorf("tags of a missing file: %v, want NoSuchKey naming the file", err)
			}
		})
	}
}
