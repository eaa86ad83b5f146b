package trigger

import "slices"

// kinds are the trigger kinds, in the order the reference lists them. A
// new kind is one file declaring it and one line here.
var kinds = []*Kind{
	webhookKind,
	scheduleKind,
	watchFilesKind,
	s3EventKind,
}

// Kinds returns every trigger kind.
func Kinds() []*Kind { return slices.Clone(kinds) }

// Lookup finds a trigger kind by its name.
func Lookup(name string) (*Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

// Names lists the kinds' names.
func Names() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}
