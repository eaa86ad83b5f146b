//go:build !unix

package connection

import "io/fs"

// ownedByMe cannot tell the owner here: changing the mode is tried.
func ownedByMe(fs.FileInfo) bool { return true }
