package module

import (
	"fmt"
	"strings"
)

// Reference writes the Markdown reference of the registry's modules: for
// each, its inputs (the keys of a flow step's with:) and outputs (the fields
// later steps map as steps.<id>.<field>). docs/flows.md embeds it.
func (r *Registry) Reference() string {
	var b strings.Builder
	for _, m := range r.modules {
		fmt.Fprintf(&b, "### `%s` — %s\n\n%s\n\n", m.Name, m.Title, m.Help)
		if m.NeedsConnection {
			b.WriteString("Needs a `connection`.")
			if m.Many {
				b.WriteString(" Emits one bundle per result.")
			}
			b.WriteString("\n\n")
		} else if m.Many {
			b.WriteString("Emits one bundle per result.\n\n")
		}
		if m.Waits {
			b.WriteString("Waits: checks again until done or timed out; a server suspends the run between checks, holding no worker (see [Waiting for files](#waiting-for-files-s3wait_for_files)).\n\n")
		}
		if m.Reaches&ReachLocalFiles != 0 {
			b.WriteString("Touches local files: runs from the CLI and in `s3flow run`; a server runs it only inside `--files-root`; never over the API or in the Studio.\n\n")
		}
		if len(m.Fields) > 0 {
			b.WriteString("| input | type | required | default | description |\n|---|---|---|---|---|\n")
			for _, f := range m.Fields {
				req := ""
				if f.Required {
					req = "yes"
				}
				def := ""
				if f.Default != nil {
					def = fmt.Sprintf("`%v`", f.Default)
				}
				help := f.Help
				if len(f.Choices) > 0 {
					help += " (one of " + strings.Join(f.Choices, ", ") + ")"
				}
				if m.Reaches == 0 && f.MayReach()&ReachLocalFiles != 0 {
					help += " (a local path is read or written: never over the API; on a server only inside `--files-root`)"
				}
				if f.Example != "" {
					help += fmt.Sprintf(" — e.g. `%s`", f.Example)
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Name, f.Type, req, def, escapeCell(help))
			}
			b.WriteString("\n")
		}
		if len(m.Outputs) > 0 {
			names := make([]string, len(m.Outputs))
			for i, o := range m.Outputs {
				names[i] = fmt.Sprintf("`%s` (%s)", o.Name, o.Type)
			}
			fmt.Fprintf(&b, "Outputs: %s.\n\n", strings.Join(names, ", "))
		}
	}
	return b.String()
}

func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
