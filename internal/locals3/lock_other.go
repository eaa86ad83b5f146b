//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package locals3

import "os"

// lockFile does not lock where flock is missing: one endpoint per folder
// is then the user's care.
func lockFile(*os.File) error { return nil }

// processAlive cannot tell here; the health check decides.
func processAlive(int) bool { return true }
