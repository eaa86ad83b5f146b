// Package didyoumean suggests the known name closest to a mistyped one.
package didyoumean

import "strings"

// Closest returns the option nearest to name by edit distance, or "" when
// none is near enough to be what was meant: at most a third of the name's
// length (and at least 2) edits away, case ignored. An option that starts
// with a name of three letters or more (secret for secret_env) is meant too.
func Closest(name string, options []string) string {
	best, bestDist := "", max(2, len(name)/3)+1
	for _, o := range options {
		if len(name) >= 3 && strings.HasPrefix(strings.ToLower(o), strings.ToLower(name)) {
			return o
		}
		if d := distance(strings.ToLower(name), strings.ToLower(o)); d < bestDist {
			best, bestDist = o, d
		}
	}
	return best
}

// distance is the edit distance between a and b in bytes, a swap of two
// neighbours counting as one edit (kye → key), as people mistype.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
