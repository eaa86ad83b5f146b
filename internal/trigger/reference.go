package trigger

import (
	"fmt"
	"strings"
	"time"
)

// Reference writes the Markdown reference of the trigger kinds; docs/flows.md
// embeds it.
func Reference() string {
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "### `%s` — %s\n\n%s\n\n", k.Name, k.Title, k.Help)
		b.WriteString("| key | type | required | default | description |\n|---|---|---|---|---|\n")
		for _, f := range k.Fields {
			req := ""
			if f.Required {
				req = "yes"
			}
			help := f.Help
			if f.Example != "" {
				help += fmt.Sprintf(" — e.g. `%s`", f.Example)
			}
			typ := f.Type.String()
			switch f.Type {
			case Duration:
				typ += ", at least " + shortDuration(f.Min)
			case Words:
				typ += " of " + strings.Join(f.Choices, ", ")
			case Choice:
				typ += " of " + strings.Join(f.Choices, ", ")
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, typ, req, defaultText(f.Default), strings.ReplaceAll(help, "|", `\|`))
		}
		fmt.Fprintf(&b, "\nRuns it starts get `trigger.type` (`%s`) and:\n\n", k.Name)
		for _, p := range k.Payload {
			fmt.Fprintf(&b, "- `trigger.%s` (%s): %s\n", p.Name, p.Type, p.Help)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func defaultText(v any) string {
	switch d := v.(type) {
	case nil:
		return ""
	case time.Duration:
		return "`" + shortDuration(d) + "`"
	case *time.Location:
		return "`" + d.String() + "`"
	case string:
		if d == "" {
			return ""
		}
	case []string:
		return "`[" + strings.Join(d, ", ") + "]`"
	}
	return fmt.Sprintf("`%v`", v)
}
