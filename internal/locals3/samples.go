package locals3

import (
	"embed"
	"io/fs"
)

//go:embed samples
var samples embed.FS

// Samples holds the files of the demo bucket the first use creates:
// Samples()/demo/reports/daily/2026-11-24/sales.csv and so on.
func Samples() fs.FS {
	sub, err := fs.Sub(samples, "samples")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
