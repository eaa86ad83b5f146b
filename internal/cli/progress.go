package cli

import (
	"io"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/s3flow/s3flow/internal/module"
)

// progress draws transfer bars on a terminal (stderr).
type progress struct{ p *mpb.Progress }

func newProgress(w io.Writer) *progress {
	return &progress{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))}
}

// Wait lets the bars finish drawing.
func (p *progress) Wait() { p.p.Wait() }

func (p *progress) Start(label string, total int64) module.Tracker {
	bar := p.p.AddBar(max(total, 0),
		mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR), decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.AverageSpeed(decor.SizeB1024(0), " % .1f")),
		mpb.BarRemoveOnComplete(),
	)
	return &barTracker{b: bar}
}

type barTracker struct{ b *mpb.Bar }

func (t *barTracker) Update(current, total int64) {
	if total > 0 {
		t.b.SetTotal(total, false)
	} else if current >= t.b.Current() {
		// Unknown total: keep it ahead of the count so the bar is not
		// taken as complete.
		t.b.SetTotal(current+1, false)
	}
	t.b.SetCurrent(current)
}

func (t *barTracker) Done() {
	t.b.SetTotal(-1, true)
}
