package examples_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

func TestArchiveReports(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			c := newCLI(t)
			conn := c.connect(tg)
			src, archive := bucketName("reports"), bucketName("archive")
			c.seed(conn, src, map[string]string{
				"reports/daily/2026-11-24/north.csv": "region,units\nnorth,120\n",
				"reports/daily/2026-11-24/south.csv": "region,units\nsouth,80\n",
				"reports/daily/2026-11-24/notes.txt": "not a report",
				"reports/daily/2026-11-25/next.csv":  "region,units\nnorth,1\n",
			})
			r := c.runFlow("archive-reports.yaml", "date=2026-11-24", "connection="+conn, "bucket="+src, "archive="+archive)
			if r.Bundles["put"] != 2 || r.Bundles["manifest"] != 1 {
				t.Errorf("bundles = %v, want 2 puts and 1 manifest", r.Bundles)
			}
			listed := lines(t, c.run("", "s3", "list-files", "-c", conn, "--bucket", archive, "--prefix", "2026-11-24"))
			var keys []string
			for _, o := range listed {
				keys = append(keys, o["key"].(string))
			}
			want := []string{"2026-11-24/manifest.csv", "2026-11-24/north.csv", "2026-11-24/south.csv"}
			if !slices.Equal(keys, want) {
				t.Errorf("archive holds %v, want %v", keys, want)
			}
			if got := c.get(conn, archive, "2026-11-24/north.csv"); got != "region,units\nnorth,120\n" {
				t.Errorf("copied north.csv = %q", got)
			}
			manifest := c.get(conn, archive, "2026-11-24/manifest.csv")
			rows := strings.Split(strings.TrimSpace(manifest), "\n")
			if len(rows) != 3 || !strings.Contains(rows[0], "key") || !strings.Contains(manifest, "2026-11-24/south.csv") {
				t.Errorf("manifest:\n%s", manifest)
			}
			if tg.Name != "local" { // a server the aws CLI reaches
				// The aws CLI reads what the flow wrote: type and bytes.
				var head struct{ ContentType string }
				json.Unmarshal([]byte(tg.AWS(t, "s3api", "head-object", "--bucket", archive, "--key", "2026-11-24/south.csv")), &head)
				if head.ContentType != "text/csv" {
					t.Errorf("aws head-object ContentType = %q, want text/csv", head.ContentType)
				}
			}
			// The run is recorded with every step.
			show := c.run("", "runs", "show", r.Run)
			for _, step := range []string{`"list"`, `"csv"`, `"get"`, `"put"`, `"all"`, `"manifest"`} {
				if !strings.Contains(show, `"step":`+step) {
					t.Errorf("runs show lacks step %s", step)
				}
			}
		})
	}
}

func TestMirrorFolder(t *testing.T) {
	vg := s3test.Versitygw(t)
	c := newCLI(t)
	// Two connections in one flow: from the local endpoint to versitygw.
	target := c.connect(vg)
	src, dst := bucketName("src"), bucketName("mirror")
	files := map[string]string{
		"a/one.txt":      "1",
		"a/deep/two.txt": "22",
		"b/three.csv":    "333",
		"top-level.txt":  "not in a folder",
	}
	c.seed("local", src, files)
	r := c.runFlow("mirror-folder.yaml", "source=local", "source_bucket="+src, "target="+target, "target_bucket="+dst)
	if r.Bundles["folders"] != 2 || r.Bundles["put"] != 3 {
		t.Errorf("bundles = %v, want 2 folders and 3 puts", r.Bundles)
	}
	var listed struct {
		Contents []struct {
			Key  string
			Size int64
		}
	}
	json.Unmarshal([]byte(vg.AWS(t, "s3api", "list-objects-v2", "--bucket", dst)), &listed)
	var keys []string
	for _, o := range listed.Contents {
		keys = append(keys, o.Key)
		if want := int64(len(files[o.Key])); o.Size != want {
			t.Errorf("%s: size %d, want %d", o.Key, o.Size, want)
		}
	}
	if want := []string{"a/deep/two.txt", "a/one.txt", "b/three.csv"}; !slices.Equal(keys, want) {
		t.Errorf("mirror holds %v, want %v", keys, want)
	}
}

func TestCreateAndTag(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			c := newCLI(t)
			conn := c.connect(tg)
			bucket := bucketName("tagged")
			// Twice: the second run finds the bucket and still succeeds.
			for range 2 {
				r := c.runFlow("create-and-tag.yaml", "connection="+conn, "bucket="+bucket, "owner=zoe")
				show := c.run("", "runs", "show", r.Run)
				if !strings.Contains(show, `\u003cKey\u003eowner\u003c/Key\u003e\u003cValue\u003ezoe`) && !strings.Contains(show, "<Key>owner</Key><Value>zoe") {
					t.Errorf("the api call did not read the tags back:\n%s", show)
				}
			}
			if tg.Name != "local" { // a server the aws CLI reaches
				var tags struct{ TagSet []struct{ Key, Value string } }
				json.Unmarshal([]byte(tg.AWS(t, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "notes/hello.txt")), &tags)
				if len(tags.TagSet) != 2 {
					t.Errorf("aws get-object-tagging = %+v, want owner and project", tags.TagSet)
				}
				var head struct {
					ContentType string
					Metadata    map[string]string
				}
				json.Unmarshal([]byte(tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", "notes/hello.txt")), &head)
				if head.Metadata["owner"] != "zoe" || !strings.HasPrefix(head.ContentType, "text/plain") {
					t.Errorf("aws head-object = %+v", head)
				}
			}
		})
	}
}

// TestOnNewReport runs the watch_files example by hand, with the trigger
// data a new file would give (s3flow run --trigger), and checks the copy.
func TestOnNewReport(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			c := newCLI(t)
			conn := c.connect(tg)
			bucket := bucketName("reports")
			const key = "reports/daily/2026-12-01/sales.csv"
			c.seed(conn, bucket, map[string]string{key: "region,total\nnorth,12\n"})
			sample := c.run("", "trigger", "sample", "on-new-report.yaml")
			if !strings.Contains(sample, `"key": "reports/daily/example.csv"`) {
				t.Errorf("trigger sample = %s, want a key under the watched prefix", sample)
			}
			c.runTriggered("on-new-report.yaml", []string{"key=" + key, "size=22"}, "connection="+conn, "bucket="+bucket)
			if got := c.get(conn, bucket, "processed/"+key); got != "region,total\nnorth,12\n" {
				t.Errorf("processed copy = %q", got)
			}
			if tg.Name != "local" {
				tg.AWS(t, "s3api", "head-object", "--bucket", bucket, "--key", "processed/"+key)
			}
		})
	}
}
