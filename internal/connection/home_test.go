package connection

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHomeTightened: a home an earlier s3flow (or the user) left open to
// others is made 0700 when the store opens, with a note saying so.
func TestHomeTightened(t *testing.T) {
	t.Setenv(KeyEnv, "")
	var notes bytes.Buffer
	old := Notes
	Notes = &notes
	t.Cleanup(func() { Notes = old })
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	open(t, home)
	fi, err := os.Stat(home)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("home is %04o after OpenStore, want 0700", got)
	}
	if want := home + " was open to other users (mode 0755); it is now 0700"; !strings.Contains(notes.String(), want) {
		t.Errorf("note = %q, want it to say %q", notes.String(), want)
	}
}

// TestHomeOfAnotherUserRefused: a home open to others that s3flow cannot
// tighten (someone else owns it) is refused with the command that fixes it.
func TestHomeOfAnotherUserRefused(t *testing.T) {
	t.Setenv(KeyEnv, "")
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only root can give a folder away; as another user, /tmp (root's,
	// open to all) is a home s3flow cannot tighten.
	if os.Getuid() == 0 {
		if err := os.Chown(home, 65534, 65534); err != nil {
			t.Skipf("cannot give %s to another user: %v", home, err)
		}
	} else if fi, err := os.Stat(os.TempDir()); err != nil || ownedByMe(fi) {
		t.Skip("no folder of another user to try")
	} else {
		home = os.TempDir()
	}
	_, err := OpenStore(context.Background(), home)
	if want := "cannot make it private: run chmod 700 " + home; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("OpenStore = %v, want an error saying %q", err, want)
	}
	if fi, err := os.Stat(home); err != nil || fi.Mode().Perm()&0o077 == 0 {
		t.Errorf("the home was changed: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(home, "s3flow.db")); err == nil {
		t.Errorf("a database was created in the refused home")
	}
}
