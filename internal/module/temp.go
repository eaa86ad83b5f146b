package module

import "unicode/utf8"

// TempPattern is the os.CreateTemp pattern for a file written beside its
// final name before it is renamed into place: a dot, the name cut to at
// most 100 bytes (at a character boundary), ".s3flow-" and the random
// digits CreateTemp adds. Uncut, a name of 237 to 255 bytes, which the
// filesystem would hold, made the temporary name too long.
func TempPattern(name string) string {
	const keep = 100
	if len(name) > keep {
		cut := keep
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut]
	}
	return "." + name + ".s3flow-*"
}
