// Package partbuf holds the parts of streamed uploads while they are
// filled and sent: megabytes each, in chunks lent from one pool.
//
// On Unix the chunks live outside the Go heap (anonymous mappings). A
// part on the heap costs twice its size in peak memory, because the
// collector lets the heap grow to twice what is live before it runs, and
// every archive entry's new buffer became garbage for it to find.
// Outside, a chunk counts once and goes from one part to the next; all
// chunks being one size, any part reuses any chunk, so the memory held is
// what the most parts in flight at once needed, and no more. (Mapping
// fresh pages instead costs a page fault per 4 KiB: measured, 65% more
// CPU for an unzip of 1,000 MiB.)
//
// A chunk is never unmapped: an HTTP transport may still read a request's
// body after the request has returned, and reading an unmapped page would
// crash the process. Idle chunks beyond maxIdle hand their pages back to
// the system instead (they read as zeros until written again), so a
// server that once zipped with large parts does not keep them resident.
package partbuf

import (
	"errors"
	"io"
	"sync"
)

// ChunkSize is the size of the chunks parts are held in.
const ChunkSize = 256 << 10

// maxIdle is how many bytes of idle chunks stay resident for the next
// part; the rest give their pages back.
const maxIdle = 8 << 20

// pool holds the chunks not lent.
type pool struct {
	mu        sync.Mutex
	hot, cold [][]byte // idle, with and without their pages
}

var chunks pool

func (p *pool) get() []byte {
	p.mu.Lock()
	var c []byte
	switch {
	case len(p.hot) > 0:
		c, p.hot = p.hot[len(p.hot)-1], p.hot[:len(p.hot)-1]
	case len(p.cold) > 0:
		c, p.cold = p.cold[len(p.cold)-1], p.cold[:len(p.cold)-1]
	}
	p.mu.Unlock()
	if c != nil {
		return c
	}
	c, err := mapBytes(ChunkSize)
	if err != nil {
		// No mapping to be had: the heap serves, as it would anyway.
		return make([]byte, ChunkSize)
	}
	return c
}

func (p *pool) put(c []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hot) < maxIdle/ChunkSize {
		p.hot = append(p.hot, c)
		return
	}
	dropPages(c)
	p.cold = append(p.cold, c)
}

// A Part holds up to its limit of bytes, written in order.
type Part struct {
	limit, n int
	chunks   [][]byte
	pooled   bool
}

// NewPart makes an empty part of at most limit bytes. One smaller than a
// chunk is a slice of its own on the heap.
func NewPart(limit int) *Part {
	if limit < ChunkSize || !canMap {
		return &Part{limit: limit, chunks: [][]byte{make([]byte, limit)}}
	}
	return &Part{limit: limit, pooled: true}
}

// Len is how many bytes were written.
func (p *Part) Len() int { return p.n }

// Full says the part holds its limit.
func (p *Part) Full() bool { return p.n == p.limit }

// Space is where the next bytes go, to be confirmed with Wrote; it is
// empty only when the part is full.
func (p *Part) Space() []byte {
	if p.Full() {
		return nil
	}
	if !p.pooled { // one slice of the part's size
		return p.chunks[0][p.n:]
	}
	off := p.n % ChunkSize
	if off == 0 && p.n/ChunkSize == len(p.chunks) {
		p.chunks = append(p.chunks, chunks.get())
	}
	return p.chunks[len(p.chunks)-1][off:min(ChunkSize, off+p.limit-p.n)]
}

// Wrote confirms that n bytes were written at the start of Space.
func (p *Part) Wrote(n int) { p.n += n }

// Release gives the part's chunks back; the part and its readers must
// not be used after.
func (p *Part) Release() {
	if p.pooled {
		for _, c := range p.chunks {
			chunks.put(c)
		}
	}
	p.chunks, p.n = nil, 0
}

// NewReader reads the bytes written so far, from the first; it can seek,
// so a request can be signed, checksummed and retried. It keeps its own
// view of the chunks: a transport that reads on after its request has
// returned, and the part was released, reads stale bytes, never out of
// bounds.
func (p *Part) NewReader() *Reader { return &Reader{chunks: p.chunks, n: p.n} }

// Reader reads a Part.
type Reader struct {
	chunks [][]byte
	n      int
	off    int64
}

func (r *Reader) Read(b []byte) (int, error) {
	if r.off >= int64(r.n) {
		return 0, io.EOF
	}
	read := 0
	for len(b) > 0 && r.off < int64(r.n) {
		size := len(r.chunks[0])
		c := r.chunks[r.off/int64(size)]
		at := int(r.off % int64(size))
		end := min(len(c), at+r.n-int(r.off))
		n := copy(b, c[at:end])
		b, read, r.off = b[n:], read+n, r.off+int64(n)
	}
	return read, nil
}

func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += int64(r.n)
	default:
		return 0, errors.New("partbuf: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("partbuf: negative position")
	}
	r.off = offset
	return offset, nil
}
