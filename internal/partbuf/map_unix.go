//go:build unix

package partbuf

import "golang.org/x/sys/unix"

const canMap = true

func mapBytes(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
}

// dropPages gives b's pages back to the system; b stays mapped and reads
// as zeros until written.
func dropPages(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }
