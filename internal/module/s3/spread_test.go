package s3

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func level(files []string, folders ...string) *s3.ListObjectsV2Output {
	page := &s3.ListObjectsV2Output{}
	for _, f := range files {
		page.Contents = append(page.Contents, types.Object{Key: aws.String(f)})
	}
	for _, f := range folders {
		page.CommonPrefixes = append(page.CommonPrefixes, types.CommonPrefix{Prefix: aws.String(f)})
	}
	return page
}

// TestLevelUnits: files and folders of one level merge in key order, runs
// of files between folders staying together.
func TestLevelUnits(t *testing.T) {
	for _, tt := range []struct {
		name    string
		files   []string
		folders []string
		want    []string // "f:key" for a file, "d:prefix" for a folder
	}{
		{"folders only", nil, []string{"a/", "b/"}, []string{"d:a/", "d:b/"}},
		{"files around folders", []string{"0", "1", "m", "zz"}, []string{"a/", "b/", "z/"},
			[]string{"f:0", "f:1", "d:a/", "d:b/", "f:m", "d:z/", "f:zz"}},
		{"a file that extends a folder's name past /", []string{"a0"}, []string{"a/"}, []string{"d:a/", "f:a0"}},
		{"under a prefix", []string{"p/x.txt"}, []string{"p/a/", "p/y/"}, []string{"d:p/a/", "f:p/x.txt", "d:p/y/"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, u := range levelUnits(level(tt.files, tt.folders...)) {
				if u.folder != "" {
					got = append(got, "d:"+u.folder)
					continue
				}
				for _, o := range u.files {
					got = append(got, "f:"+aws.ToString(o.Key))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("units = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAmbiguousOrder: a level is not spread when sorting by key and by
// name would disagree.
func TestAmbiguousOrder(t *testing.T) {
	for _, tt := range []struct {
		name    string
		files   []string
		folders []string
		want    bool
	}{
		{"plain folders", []string{"0", "zz"}, []string{"a/", "b/"}, false},
		{"file extends a folder with .", []string{"many.txt"}, []string{"many/", "z/"}, true},
		{"folder extends a folder with -", nil, []string{"many-/", "many/"}, true},
		{"space", []string{"a b"}, []string{"a/", "c/"}, true},
		{"extension past / is fine", []string{"a0", "ab"}, []string{"a/", "c/"}, false},
		{"under a prefix", []string{"p/x.csv"}, []string{"p/x/", "p/y/"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ambiguousOrder(level(tt.files, tt.folders...)); got != tt.want {
				t.Errorf("ambiguousOrder = %v, want %v", got, tt.want)
			}
		})
	}
}
