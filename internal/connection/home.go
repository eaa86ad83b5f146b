package connection

import (
	"fmt"
	"io"
	"os"
)

// Notes receives what s3flow says about a home folder it made private.
var Notes io.Writer = os.Stderr

// PrivateHome creates home 0700 or, when it exists open to other users,
// makes it 0700 if the current user owns it (saying so on Notes). A home
// someone else owns is refused with the command that fixes it: the key,
// the database and the local endpoint's objects live there.
func PrivateHome(home string) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", home, err)
	}
	fi, err := os.Stat(home)
	if err != nil {
		return fmt.Errorf("check %s: %w", home, err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if ownedByMe(fi) {
		if err := os.Chmod(home, 0o700); err == nil {
			fmt.Fprintf(Notes, "s3flow: %s was open to other users (mode %04o); it is now 0700\n", home, perm)
			return nil
		}
	}
	return fmt.Errorf("%s is open to other users (mode %04o) and s3flow cannot make it private: run chmod 700 %s", home, perm, home)
}
