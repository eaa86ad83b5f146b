// Command chart draws bench/compare.sh's results as a PNG: one panel per
// workload, a horizontal bar per tool (its median wall time), s3flow's bar
// in its own colour, so the comparison shows at a glance.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/color"
	"log"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	in := flag.String("in", "docs/benchmarks/compare.tsv", "compare.sh's measurements")
	out := flag.String("out", "docs/benchmarks/compare.png", "the PNG to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		log.Fatal(err)
	}
}

type series struct {
	workload string
	tools    []string
	medians  []float64
}

func read(file string) ([]series, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	times := map[string]map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		// workload, tool, round, seconds, peak RSS; then CPU seconds and
		// anonymous RSS in newer files.
		if len(cols) != 5 && len(cols) != 7 {
			return nil, fmt.Errorf("%s: a line with %d columns, want 5 or 7", file, len(cols))
		}
		secs, err := strconv.ParseFloat(cols[3], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: seconds %q: %w", file, cols[3], err)
		}
		w, tool := cols[0], cols[1]
		if times[w] == nil {
			times[w] = map[string][]float64{}
			order = append(order, w)
		}
		times[w][tool] = append(times[w][tool], secs)
	}
	var out []series
	for _, w := range order {
		s := series{workload: w}
		for tool, ts := range times[w] {
			s.tools = append(s.tools, tool)
			s.medians = append(s.medians, median(ts))
		}
		// Slowest at the bottom, as a ranking reads.
		idx := make([]int, len(s.tools))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return s.medians[idx[a]] > s.medians[idx[b]] })
		var tools []string
		var meds []float64
		for _, i := range idx {
			tools, meds = append(tools, s.tools[i]), append(meds, s.medians[i])
		}
		s.tools, s.medians = tools, meds
		out = append(out, s)
	}
	return out, sc.Err()
}

func median(ts []float64) float64 {
	s := slices.Clone(ts)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func run(in, out string) error {
	all, err := read(in)
	if err != nil {
		return err
	}
	const width, panelHeight = 18 * vg.Centimeter, 6 * vg.Centimeter
	img := vgimg.New(width, panelHeight*vg.Length(len(all)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(all), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter}
	plots := make([][]*plot.Plot, len(all))
	for i, s := range all {
		p := plot.New()
		p.Title.Text = s.workload
		p.X.Label.Text = "seconds (median; shorter is better)"
		p.X.Min = 0
		p.X.Max = slices.Max(s.medians) * 1.08
		for j := range s.tools {
			bar, err := plotter.NewBarChart(plotter.Values{s.medians[j]}, vg.Points(12))
			if err != nil {
				return err
			}
			bar.Horizontal = true
			bar.Offset = 0
			bar.XMin = float64(j)
			bar.LineStyle.Width = 0
			bar.Color = color.RGBA{R: 150, G: 150, B: 160, A: 255}
			if strings.HasPrefix(s.tools[j], "limit:") {
				bar.Color = color.RGBA{R: 200, G: 200, B: 205, A: 255}
			}
			if strings.HasPrefix(s.tools[j], "s3flow") {
				bar.Color = color.RGBA{R: 30, G: 120, B: 200, A: 255}
			}
			p.Add(bar)
		}
		p.NominalY(s.tools...)
		plots[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
