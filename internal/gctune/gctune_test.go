package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name              string
		percent           int
		gcCPU, processCPU float64
		want              int
	}{
		{"costly collections grow the heap", 100, 0.02, 0.1, 200},
		{"cheap collections bring it back", 200, 0.001, 0.1, 100},
		{"a share between the two keeps 100", 100, 0.005, 0.1, 100},
		{"a share between the two keeps 200", 200, 0.005, 0.1, 200},
		{"no CPU time read keeps it", 200, 0, 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.percent, tt.gcCPU, tt.processCPU); got != tt.want {
				t.Errorf("decide(%d, %v, %v) = %d, want %d", tt.percent, tt.gcCPU, tt.processCPU, got, tt.want)
			}
		})
	}
}

// gcPercent is GOGC now.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestTunerFollowsTheCollector allocates garbage until the collector
// costs much of the CPU, and sees GOGC raised; then stops the tuner and
// sees it back at 100.
func TestTunerFollowsTheCollector(t *testing.T) {
	if !canReadCPU {
		t.Skip("the process's CPU time cannot be read here")
	}
	changed := make(chan int, 16)
	tuner := start(func(string) string { return "" }, changed)
	defer tuner.Stop()
	// Pointers to many small objects: marking them is most of the work.
	var keep [][]*int
	deadline := time.After(time.Minute)
	for raised := false; !raised; {
		select {
		case p := <-changed:
			raised = p == busyPercent
		case <-deadline:
			t.Fatalf("GOGC still %d after a minute of allocation", gcPercent())
		default:
			batch := make([]*int, 1024)
			for i := range batch {
				batch[i] = new(int)
			}
			keep = append(keep, batch)
			if len(keep) > 64 {
				keep = keep[1:]
			}
		}
	}
	if got := gcPercent(); got != busyPercent {
		t.Fatalf("the tuner said it raised GOGC, but it is %d", got)
	}
	tuner.Stop()
	if got := gcPercent(); got != normalPercent {
		t.Errorf("after Stop, GOGC = %d, want %d", got, normalPercent)
	}
	runtime.KeepAlive(keep)
}

func TestTunerLeavesAGOGCTheUserSet(t *testing.T) {
	tuner := start(func(name string) string {
		if name == "GOGC" {
			return "50"
		}
		return ""
	}, nil)
	defer tuner.Stop()
	if !tuner.stopped {
		t.Error("the tuner runs although GOGC is set")
	}
}
