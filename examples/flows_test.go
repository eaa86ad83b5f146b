package examples_test

import (
	"archive/zip"
	"encoding/json"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

func TestMonthlyArchive(t *testing.T) {
	first := time.Now().UTC()
	lastMonth := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01")
	thisMonth := first.Format("2006-01")
	for _, tg := range targets(t) {
		t.Run(tg.Name, func(t *testing.T) {
			c := newCLI(t)
			conn := c.connect(tg)
			bucket := bucketName("monthly")
			files := map[string]string{
				"reports/" + lastMonth + "/north.csv":     "region,units\nnorth,120\n",
				"reports/" + lastMonth + "/sub/south.csv": "region,units\nsouth,80\n",
				"reports/" + thisMonth + "/today.csv":     "region,units\neast,1\n",
			}
			c.seed(conn, bucket, files)
			archive := "archives/reports-" + lastMonth + ".zip"
			inArchive := func() map[string]string {
				data := c.get(conn, bucket, archive)
				zr, err := zip.NewReader(strings.NewReader(data), int64(len(data)))
				if err != nil {
					t.Fatalf("%s: %v", archive, err)
				}
				got := map[string]string{}
				for _, f := range zr.File {
					rc, err := f.Open()
					if err != nil {
						t.Fatal(err)
					}
					b, err := io.ReadAll(rc)
					rc.Close()
					if err != nil {
						t.Fatal(err)
					}
					got[f.Name] = string(b)
				}
				return got
			}
			wantArchive := map[string]string{
				lastMonth + "/north.csv": files["reports/"+lastMonth+"/north.csv"], lastMonth + "/sub/south.csv": files["reports/"+lastMonth+"/sub/south.csv"],
			}
			keys := func() []string {
				var keys []string
				for _, o := range lines(t, c.run("", "s3", "list-files", "-c", conn, "--bucket", bucket, "--prefix", "reports", "--recursive")) {
					keys = append(keys, o["key"].(string))
				}
				return keys
			}

			// The dry run: the archive is made, nothing is deleted.
			r := c.runFlow("monthly-archive.yaml", "connection="+conn, "bucket="+bucket)
			if r.Bundles["zip"] != 1 || r.Bundles["verified"] != 1 || r.Bundles["delete"] != 2 {
				t.Errorf("dry run bundles = %v, want 1 zip, 1 verified, 2 deletes", r.Bundles)
			}
			if got := inArchive(); !maps.Equal(got, wantArchive) {
				t.Errorf("the archive holds %v, want %v", got, wantArchive)
			}
			if got := keys(); len(got) != 3 {
				t.Errorf("after the dry run the bucket holds %v, want all 3 reports", got)
			}

			// For real: last month's files go, this month's stays.
			r = c.runFlow("monthly-archive.yaml", "connection="+conn, "bucket="+bucket, "dry_run=false")
			if r.Bundles["delete"] != 2 {
				t.Errorf("bundles = %v, want 2 deletes", r.Bundles)
			}
			if got := keys(); !slices.Equal(got, []string{"reports/" + thisMonth + "/today.csv"}) {
				t.Errorf("the bucket holds %v, want only this month's report", got)
			}
			if got := inArchive(); !maps.Equal(got, wantArchive) {
				t.Errorf("the archive holds %v, want %v", got, wantArchive)
			}
			if tg.Name != "local" { // the aws CLI and Debian's unzip read what the flow wrote
				local := filepath.Join(t.TempDir(), "a.zip")
				tg.AWS(t, "s3", "cp", "s3://"+bucket+"/"+archive, local)
				out, err := exec.Command("unzip", "-t", local).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "No errors detected") {
					t.Errorf("unzip -t: %v\n%s", err, out)
				}
			}
		})
	}
}
