package data_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/engine"
	"github.com/s3flow/s3flow/internal/flow"
	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/module/builtin"
	"github.com/s3flow/s3flow/internal/module/data"
)

// BenchmarkParseFlow parses a CSV file of S3FLOW_BENCH_MIB MiB (default
// 256), written on the fly, in a flow that counts its rows (csv.parse and
// a flow.filter), through the engine without a run history. It reports
// rows/s and the process's peak RSS, which must not grow with the file:
//
//	S3FLOW_BENCH_MIB=1024 go test -run '^$' -bench ParseFlow -benchtime 1x ./internal/module/data/
//
// bench/parse.sh runs the same flow with 's3flow run' against versitygw,
// where the run history (one event per row) is the cost.
func BenchmarkParseFlow(b *testing.B) {
	mib := 256
	if s := os.Getenv("S3FLOW_BENCH_MIB"); s != "" {
		mib, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "big.csv")
	rows := writeBigCSV(b, path, mib)
	reg := &module.Registry{}
	reg.Register(builtin.Modules()...)
	reg.Register(data.Modules()...)
	src := fmt.Sprintf(`name: count-rows
steps:
  - id: read
    module: file.read
    with: {path: %q}
  - id: rows
    module: csv.parse
    connection: none
    with: {file: "{{ steps.read.file }}"}
  - id: paid
    module: flow.filter
    with:
      condition: "{{ steps.rows.status == 'paid' }}"
`, path)
	f, err := flow.Parse("bench.yaml", []byte(src), reg)
	if err != nil {
		b.Fatal(err)
	}
	e := engine.New(engine.Options{Registry: reg, Resolver: noConnection{}, SpoolDir: dir, Files: module.AllLocalFiles()})
	b.SetBytes(int64(mib) << 20)
	for b.Loop() {
		start := time.Now()
		res, err := e.Run(context.Background(), f, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Outputs["rows"] != rows || res.Outputs["paid"] != rows {
			b.Fatalf("counted %v, want %d rows", res.Outputs, rows)
		}
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MiB")
}

type noConnection struct{}

func (noConnection) Connection(context.Context, string) (connection.Connection, error) {
	return connection.Connection{}, nil
}

// writeBigCSV writes a header and mib MiB of order rows, one 1 MiB block
// repeated, and returns the row count.
func writeBigCSV(b *testing.B, path string, mib int) int64 {
	var block strings.Builder
	n := 0
	names := []string{"Ana Lima", "Bo Chen", "Carla Diaz", "Dev Patel", "Eli Novak", "Femi Ade"}
	for block.Len() < 1<<20 {
		fmt.Fprintf(&block, "2026-%02d-%02d,%d,\"%s\",PT,%d.%02d,paid\n", 1+n%12, 1+n%28, 100000+n, names[n%6], n%10000, n%100)
		n++
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("date,order_id,customer,country,amount,status\n")
	for range mib {
		w.WriteString(block.String())
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return int64(n) * int64(mib)
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS() int64 {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkCSVParseModule is csv.parse alone on the same file, its bundles
// only counted: the parser's share of BenchmarkParseFlow.
func BenchmarkCSVParseModule(b *testing.B) {
	mib := 256
	if s := os.Getenv("S3FLOW_BENCH_MIB"); s != "" {
		mib, _ = strconv.Atoi(s)
	}
	path := filepath.Join(b.TempDir(), "big.csv")
	rows := writeBigCSV(b, path, mib)
	file, err := module.NewLocalFile(path)
	if err != nil {
		b.Fatal(err)
	}
	in, err := data.CSVParse.Check(map[string]any{"file": file})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(mib) << 20)
	for b.Loop() {
		start := time.Now()
		var n int64
		err := data.CSVParse.Exec(context.Background(), module.Env{Files: module.AllLocalFiles()}, in, func(module.Bundle) error { n++; return nil })
		if err != nil || n != rows {
			b.Fatalf("%d rows of %d: %v", n, rows, err)
		}
		b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	}
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}
