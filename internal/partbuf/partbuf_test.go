package partbuf

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

func TestPart(t *testing.T) {
	data := make([]byte, 3*ChunkSize+100)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	for _, tt := range []struct {
		name  string
		limit int
		write []int // the lengths written, in turn
	}{
		{"empty", 0, nil},
		{"smaller than a chunk", 1000, []int{1, 999}},
		{"one chunk exactly", ChunkSize, []int{ChunkSize}},
		{"chunks and a bit", 3*ChunkSize + 100, []int{10, ChunkSize, 7, 2 * ChunkSize, 83}},
		{"filled by few bytes at a time", ChunkSize + 1, []int{ChunkSize - 1, 1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPart(tt.limit)
			defer p.Release()
			at := 0
			for _, n := range tt.write {
				for n > 0 {
					space := p.Space()
					if len(space) == 0 {
						t.Fatalf("no space at %d of %d", p.Len(), tt.limit)
					}
					k := copy(space, data[at:at+n])
					p.Wrote(k)
					at, n = at+k, n-k
				}
			}
			if !p.Full() || p.Len() != tt.limit || len(p.Space()) != 0 {
				t.Fatalf("full %v, len %d, space %d; want full at %d", p.Full(), p.Len(), len(p.Space()), tt.limit)
			}
			r := p.NewReader()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data[:tt.limit]) {
				t.Fatalf("read %d bytes (%v), want the %d written", len(got), err, tt.limit)
			}
			// Read again after seeking, as a retried request does.
			for _, off := range []int64{0, int64(tt.limit) / 2, int64(tt.limit)} {
				if _, err := r.Seek(off, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, data[off:tt.limit]) {
					t.Errorf("from %d: read %d bytes (%v), want %d", off, len(got), err, int64(tt.limit)-off)
				}
			}
			if end, err := r.Seek(0, io.SeekEnd); err != nil || end != int64(tt.limit) {
				t.Errorf("Seek to the end = %d, %v", end, err)
			}
			if _, err := r.Seek(-1, io.SeekStart); err == nil {
				t.Error("seeking before the start succeeded")
			}
		})
	}
}

// Chunks go from one part to the next: parts in turn hold no more than
// one part's chunks.
func TestChunksReused(t *testing.T) {
	if !canMap {
		t.Skip("chunks are on the heap here")
	}
	first := NewPart(4 * ChunkSize)
	for !first.Full() {
		first.Wrote(len(first.Space()))
	}
	held := map[*byte]bool{}
	for _, c := range first.chunks {
		held[&c[0]] = true
	}
	first.Release()
	second := NewPart(4 * ChunkSize)
	defer second.Release()
	for !second.Full() {
		second.Wrote(len(second.Space()))
	}
	for _, c := range second.chunks {
		if !held[&c[0]] {
			t.Fatal("a chunk was mapped anew while released ones were idle")
		}
	}
}

// Idle chunks beyond maxIdle give their pages back: on Linux they read
// as zeros when lent again.
func TestIdleChunksDropPages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux promises zeros after MADV_DONTNEED")
	}
	var p pool
	n := maxIdle/ChunkSize + 2
	var lent [][]byte
	for range n {
		c := p.get()
		c[0] = 0xAA
		lent = append(lent, c)
	}
	for _, c := range lent {
		p.put(c)
	}
	if len(p.hot) != maxIdle/ChunkSize || len(p.cold) != 2 {
		t.Fatalf("%d idle chunks resident and %d dropped, want %d and 2", len(p.hot), len(p.cold), maxIdle/ChunkSize)
	}
	zeroed := 0
	for range n {
		if p.get()[0] == 0 {
			zeroed++
		}
	}
	if zeroed != 2 {
		t.Errorf("%d chunks came back with their pages dropped, want 2", zeroed)
	}
}

func TestConcurrentParts(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				p := NewPart((g%3 + 1) * ChunkSize)
				for !p.Full() {
					s := p.Space()
					for j := range s {
						s[j] = byte(g + i)
					}
					p.Wrote(len(s))
				}
				got, _ := io.ReadAll(p.NewReader())
				if len(got) != p.Len() || bytes.Count(got, []byte{byte(g + i)}) != len(got) {
					t.Errorf("a part's bytes were changed while it was held")
				}
				p.Release()
			}
		})
	}
	wg.Wait()
}

// A transport may read a request's body after the request returned and
// the part was released: the reader then reads stale bytes, no further
// than the part went.
func TestReaderAfterRelease(t *testing.T) {
	p := NewPart(2*ChunkSize + 7)
	for !p.Full() {
		p.Wrote(len(p.Space()))
	}
	r := p.NewReader()
	p.Release()
	got, err := io.ReadAll(r)
	if err != nil || len(got) != 2*ChunkSize+7 {
		t.Errorf("read %d bytes (%v) after release, want %d", len(got), err, 2*ChunkSize+7)
	}
}
