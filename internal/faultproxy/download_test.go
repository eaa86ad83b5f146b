package faultproxy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/faultproxy"
	s3mod "github.com/s3flow/s3flow/internal/module/s3"
)

// downloadSize makes get_file fetch three ranges: 8 MiB, 8 MiB, 4 MiB.
const downloadSize = 20 << 20

// The ranges get_file asks for, by the transfer manager's 8 MiB parts.
const (
	middleRange = "bytes=8388608-16777215"
	lastRange   = "bytes=16777216-20971519"
)

// TestDownloadFaults breaks the GET of one range in each way a server or
// network can, over a file of that name that exists. A download either
// completes and matches the object, or fails and leaves the old file as it
// was and no temporary file behind.
func TestDownloadFaults(t *testing.T) {
	tg, bucket := setup(t)
	data := randomBytes(4, downloadSize)
	putObjects(t, tg, bucket, map[string][]byte{"big.bin": data})
	old := []byte("the previous download\n")
	middle := faultproxy.Match{Op: "GetObject", Header: map[string]string{"Range": middleRange}}
	last := faultproxy.Match{Op: "GetObject", Header: map[string]string{"Range": lastRange}}
	// A body that breaks off part-way continues from the byte reached (the
	// 4th GET's range starts there), so even a fault on every full-range
	// answer ends in a whole file.
	const middleFirst, middleLast, lastFirst, lastLast = 8388608, 16777215, 16777216, 20971519
	cases := []struct {
		name string
		rule faultproxy.Rule
		ok   bool
		// resumeAt, when not 0, is the furthest byte the continuing GET
		// may start at: the byte the proxy got to. It must start past the
		// range's first byte (the client may have received less than the
		// proxy sent before a reset).
		resumeAt int64
	}{
		// A lie is not retried: no part of the SDK sees it, only s3flow's
		// check of the bytes against the span the server announced.
		{"no fault", faultproxy.Rule{Match: faultproxy.Match{Op: "none"}}, true, 0},
		{"500 once", faultproxy.Rule{Match: middle, Fault: faultproxy.InternalError()}, true, 0},
		{"503 SlowDown once", faultproxy.Rule{Match: middle, Fault: faultproxy.SlowDown()}, true, 0},
		{"reset after 1 MiB once", faultproxy.Rule{Match: middle, Fault: faultproxy.Fault{Kind: faultproxy.ResetResponse, Bytes: 1 << 20}}, true, middleFirst + 1<<20},
		{"truncated after 1 MiB once", faultproxy.Rule{Match: middle, Fault: faultproxy.Fault{Kind: faultproxy.Truncate, Bytes: 1 << 20}}, true, middleFirst + 1<<20},
		{"reset after 1 MiB every time", faultproxy.Rule{Match: middle, Count: -1, Fault: faultproxy.Fault{Kind: faultproxy.ResetResponse, Bytes: 1 << 20}}, true, middleFirst + 1<<20},
		{"truncated after 1 MiB every time", faultproxy.Rule{Match: last, Count: -1, Fault: faultproxy.Fault{Kind: faultproxy.Truncate, Bytes: 1 << 20}}, true, lastFirst + 1<<20},
		{"middle range short by 100 bytes every time", faultproxy.Rule{Match: middle, Count: -1, Fault: faultproxy.Fault{Kind: faultproxy.ShortLength, Bytes: 100}}, true, 16777215 - 99},
		{"last range short by 100 bytes every time", faultproxy.Rule{Match: last, Count: -1, Fault: faultproxy.Fault{Kind: faultproxy.ShortLength, Bytes: 100}}, true, 20971519 - 99},
		{"every GET of the middle range reset after 1 MiB", faultproxy.Rule{Match: faultproxy.Match{Op: "GetObject"}, Count: -1, Fault: faultproxy.Fault{Kind: faultproxy.ResetResponse, Bytes: 1 << 20}}, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			th := proxied(t, tg)
			th.proxy.Add(c.rule)
			dir := t.TempDir()
			target := filepath.Join(dir, "big.bin")
			if err := os.WriteFile(target, old, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := th.run(context.Background(), t, s3mod.GetFile, map[string]any{"bucket": bucket, "path": "big.bin", "out": target})
			got, rerr := os.ReadFile(target)
			if rerr != nil {
				t.Fatal(rerr)
			}
			reqs := th.proxy.Requests()
			var ranges []string
			for _, r := range reqs {
				if r.Op == "GetObject" {
					ranges = append(ranges, r.Header.Get("Range"))
				}
			}
			t.Logf("GetObject ranges: %q", ranges)
			if c.ok {
				if err != nil {
					t.Fatalf("download: %v", err)
				}
				assertSame(t, "the download", got, data)
				want := 3
				if c.rule.Match.Op != "none" {
					want = 4 // the broken range once more
				}
				if len(ranges) != want {
					t.Errorf("%d GetObject requests, want %d", len(ranges), want)
				}
				if c.resumeAt != 0 {
					// Ranges are fetched in parallel: the continuing GET is
					// found by its range (the broken range's end, a later
					// start), not by its place in the order of arrival.
					rangeFirst, rangeLast := int64(middleFirst), int64(middleLast)
					if c.rule.Match.Header["Range"] == lastRange {
						rangeFirst, rangeLast = lastFirst, lastLast
					}
					var resumed []string
					for _, r := range ranges {
						if first, last, ok := parseRange(r); ok && last == rangeLast && first != rangeFirst {
							resumed = append(resumed, r)
						}
					}
					if len(resumed) != 1 {
						t.Fatalf("GETs continuing the broken range: %q, want one", resumed)
					}
					if at, _, _ := parseRange(resumed[0]); at <= rangeFirst || at > c.resumeAt {
						t.Errorf("the continuing GET asked for %q, want it to start past byte %d, at the byte reached (at most %d)", resumed[0], rangeFirst, c.resumeAt)
					}
				}
			} else {
				if err == nil {
					t.Fatalf("no error; the file has %d bytes", len(got))
				}
				t.Logf("error: %v", err)
				assertSame(t, "the existing file", got, old)
				if n := th.proxy.Count(c.rule.Match); n < 2 && c.rule.Fault.Kind != faultproxy.ShortLength {
					t.Errorf("the broken range was asked for %d times, want retries", n)
				}
			}
			assertDir(t, dir, "big.bin")
		})
	}
}

// parseRange reads a Range header of the form bytes=first-last.
func parseRange(r string) (first, last int64, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	return first, last, found && err1 == nil && err2 == nil
}

// TestDownloadStalledAndCancelled holds a range until the run is
// cancelled: the existing file is untouched and no temporary file is left.
func TestDownloadStalledAndCancelled(t *testing.T) {
	tg, bucket := setup(t)
	putObjects(t, tg, bucket, map[string][]byte{"big.bin": randomBytes(5, downloadSize)})
	th := proxied(t, tg)
	th.proxy.Add(faultproxy.Rule{Match: faultproxy.Match{Op: "GetObject", Header: map[string]string{"Range": middleRange}},
		Fault: faultproxy.Fault{Kind: faultproxy.Stall}})
	dir := t.TempDir()
	target := filepath.Join(dir, "big.bin")
	old := []byte("the previous download\n")
	if err := os.WriteFile(target, old, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := th.run(ctx, t, s3mod.GetFile, map[string]any{"bucket": bucket, "path": "big.bin", "out": target})
		done <- err
	}()
	select {
	case <-th.proxy.Stalled():
	case err := <-done:
		t.Fatalf("the download ended before the stall: %v", err)
	case <-time.After(2 * time.Minute): // a guard against hanging, not a measurement
		t.Fatal("no range reached the proxy")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, "the existing file", got, old)
	assertDir(t, dir, "big.bin")
}
