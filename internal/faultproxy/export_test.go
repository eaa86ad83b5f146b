package faultproxy

// Hit reports whether r breaks the seen-th request that matches it.
func Hit(r *Rule, seen int) bool {
	r.seen = seen - 1
	return r.hit(Request{})
}
