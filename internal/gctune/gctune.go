// Package gctune lets the heap grow further while collecting it costs much
// of the CPU. The processes that run flows use it: s3flow run and runs
// retry, server and worker.
//
// Go collects when the heap reaches twice what was live after the last
// collection (GOGC=100), and never below 4 MiB. Flows over many small
// objects allocate fast and keep little (2-4 MB live), so the collector
// runs every few milliseconds: the tuner cut the CPU of upload, copy and
// counting flows over 2,000 and 20,000 objects by 5-18% (2 cores), for
// 4-7 MiB more peak RSS. A flow that moves a few large files allocates
// slowly and spends its CPU in system calls; there a larger heap would
// only cost memory (GOGC=200 also doubles the 4 MiB floor). So after
// every collection the tuner looks at the collector's share of the
// process's CPU (user and system) since its last decision, and lets the
// heap grow to three times what is live while that share is high.
//
// The single-module commands keep Go's default: they are s3flow's lean
// path (a 20,000-object listing held 14 MiB of anonymous memory, 19 with
// GOGC=200).
//
// The soft memory limit (debug.SetMemoryLimit) bounds the heap either way:
// near it, the collector runs as often as it must.
package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	// normalPercent and busyPercent are the GOGC values the tuner moves
	// between.
	normalPercent = 100
	busyPercent   = 200

	// raiseAbove and lowerBelow are the collector's share of the
	// process's CPU since the tuner's last decision past which the heap
	// may grow further, and under which it goes back; apart, so that a
	// share near one does not switch GOGC at every decision.
	raiseAbove = 0.08
	lowerBelow = 0.03

	// minWindow is the least CPU time, in seconds, a share is taken over.
	// A process's first collections come while it starts, which allocates
	// much and does little else (about 30 ms of CPU): they say nothing of
	// the work to come.
	minWindow = 0.05
)

// Tuner sets GOGC after every collection.
type Tuner struct {
	mu                sync.Mutex
	stopped           bool
	percent           int
	gcCPU, processCPU float64
	// changed hears every change of GOGC, if it is not nil and has room
	// (for tests).
	changed chan<- int
}

// Start starts a tuner. It does nothing where the process's CPU time
// cannot be read, and when GOGC is set in the environment: the user chose.
func Start(getenv func(string) string) *Tuner { return start(getenv, nil) }

func start(getenv func(string) string, changed chan<- int) *Tuner {
	t := &Tuner{percent: normalPercent, changed: changed}
	if getenv("GOGC") != "" || !canReadCPU {
		t.stopped = true
		return t
	}
	t.gcCPU, t.processCPU = readCPU()
	t.arm()
	return t
}

// Stop stops the tuner and puts GOGC back to 100.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	if t.percent != normalPercent {
		debug.SetGCPercent(normalPercent)
	}
}

// sentinel is an object whose cleanup runs once a collection has found it
// unreachable. It has a pointer so that it gets a block of its own: the
// tiny allocator packs small pointer-free objects together, and their
// cleanups may never run.
type sentinel struct{ _ *int }

// arm makes the next collection call cycle.
func (t *Tuner) arm() {
	runtime.AddCleanup(new(sentinel), (*Tuner).cycle, t)
}

// cycle runs after a collection: it sets GOGC from the collector's share
// of the CPU since the last decision, taken over minWindow at least, and
// waits for the next collection.
func (t *Tuner) cycle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	defer t.arm()
	gcCPU, processCPU := readCPU()
	if processCPU-t.processCPU < minWindow {
		return
	}
	next := decide(t.percent, gcCPU-t.gcCPU, processCPU-t.processCPU)
	t.gcCPU, t.processCPU = gcCPU, processCPU
	if next != t.percent {
		t.percent = next
		debug.SetGCPercent(next)
		select {
		case t.changed <- next:
		default: // nil, or a test that stopped listening
		}
	}
}

// decide is GOGC for the next cycle, from the current one and the CPU the
// collector and the whole process took since the last decision.
func decide(percent int, gcCPU, processCPU float64) int {
	if processCPU <= 0 {
		return percent
	}
	switch share := gcCPU / processCPU; {
	case share > raiseAbove:
		return busyPercent
	case share < lowerBelow:
		return normalPercent
	}
	return percent
}

// readCPU returns the CPU time the collector took and the CPU time the
// process took (user and system), in seconds. The process's is the
// measure of the work: a download spends it in system calls, and the
// collector's share of the Go code alone would look large there.
func readCPU() (gcCPU, processCPU float64) {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64 {
		gcCPU = s[0].Value.Float64()
	}
	return gcCPU, processTime()
}
