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

// Hint is ` (did you mean "x"?)`, or "" without a suggestion.
func Hint(name string, options []string) string {
	if c := Closest(name, options); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
