package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

// metricsFlow uploads a small file, downloads it again and asks for a file
// that is not there (the error ignored).
const metricsFlow = `name: moved
inputs:
  bucket: {type: string, default: %s}
steps:
  - id: put
    module: s3.upload_file
    connection: vg
    with:
      bucket: "{{ inputs.bucket }}"
      folder: incoming
      file: "{{ file.text('a.txt', 'hello metrics') }}"
  - id: get
    module: s3.get_file
    connection: vg
    with:
      bucket: "{{ inputs.bucket }}"
      path: "{{ steps.put.key }}"
  - id: missing
    module: s3.get_file
    connection: vg
    on_error: ignore
    with:
      bucket: "{{ inputs.bucket }}"
      path: incoming/not-there.txt
`

// metrics scrapes /metrics without a token and returns every sample as
// "name{label=value,...}" (labels sorted) → value, and the raw text.
func (e *env) metrics() (map[string]float64, string) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		e.t.Fatalf("GET /metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, value, _ := strings.Cut(line, " ")
		name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
		var pairs []string
		for p := range strings.SplitSeq(labels, ",") {
			if p != "" {
				pairs = append(pairs, strings.ReplaceAll(p, `"`, ""))
			}
		}
		slices.Sort(pairs)
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			e.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[name+"{"+strings.Join(pairs, ",")+"}"] = v
	}
	return out, string(data)
}

// TestMetrics: /metrics answers without a token; after a run it shows the
// run, its steps' durations, the bytes uploaded and downloaded and the S3
// error of the missing file, and no secret.
func TestMetrics(t *testing.T) {
	tg := s3test.Versitygw(t)
	bucket := tg.Bucket(t)
	e := newEnv(t, tg, tg.Conn.Endpoint)
	e.writeFlow("moved", fmt.Sprintf(metricsFlow, bucket))
	e.start()

	before, _ := e.metrics()
	for _, k := range []string{"s3flow_bytes_total{direction=upload}", "s3flow_bytes_total{direction=download}",
		"s3flow_runs_queued{}", "s3flow_runs_running{}"} {
		if v, ok := before[k]; !ok || v != 0 {
			t.Errorf("before any run: %s = %v (shown: %v), want 0", k, v, ok)
		}
	}
	if _, ok := before["s3flow_runs_total{flow=moved,status=succeeded}"]; ok {
		t.Errorf("a run counted before any ran")
	}

	status, out := e.do("POST", "/api/flows/moved/run?wait=true", e.token, []byte(`{}`), nil)
	if status != 200 || out["status"] != "succeeded" {
		t.Fatalf("run: %d %v\n%s", status, out, e.srvLog)
	}
	// The run's JSON says what on_error passed over.
	if out["ignoredErrors"] != float64(1) || out["resumedErrors"] != float64(0) {
		t.Errorf("run: ignoredErrors %v, resumedErrors %v, want 1 and 0", out["ignoredErrors"], out["resumedErrors"])
	}

	after, text := e.metrics()
	size := float64(len("hello metrics"))
	for k, want := range map[string]float64{
		"s3flow_runs_total{flow=moved,status=succeeded}":                                  1,
		"s3flow_bytes_total{direction=upload}":                                            size,
		"s3flow_bytes_total{direction=download}":                                          size,
		"s3flow_s3_errors_total{code=NoSuchKey}":                                          1,
		"s3flow_step_duration_seconds_count{flow=moved,module=s3.upload_file,status=ok}":  1,
		"s3flow_step_duration_seconds_count{flow=moved,module=s3.get_file,status=ok}":     1,
		"s3flow_step_duration_seconds_count{flow=moved,module=s3.get_file,status=failed}": 1,
		"s3flow_runs_queued{}":                                                            0,
		"s3flow_runs_running{}":                                                           0,
	} {
		if got, ok := after[k]; !ok || got != want {
			t.Errorf("after the run: %s = %v (shown: %v), want %v", k, got, ok, want)
		}
	}
	if after["s3flow_step_duration_seconds_sum{flow=moved,module=s3.upload_file,status=ok}"] <= 0 {
		t.Errorf("the upload took no time: %v", after)
	}
	if secret := tg.Conn.SecretAccessKey.Reveal(); strings.Contains(text, secret) || strings.Contains(text, e.token) {
		t.Errorf("/metrics shows a secret:\n%s", text)
	}
}
