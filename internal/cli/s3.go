package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/s3flow/s3flow/internal/connection"
	"github.com/s3flow/s3flow/internal/module"
)

// connectionEnv names the variable that gives --connection's default.
const connectionEnv = "S3FLOW_CONNECTION"

func newS3Cmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "s3",
		Short: "Run one S3 module",
		Long:  "Run one S3 module on its own. Every module prints one result (bundle) per line.",
	}
	for _, m := range a.registry.All() {
		if m.Group.S3() {
			cmd.AddCommand(newModuleCmd(a, m))
		}
	}
	return cmd
}

// newModuleCmd derives a command from a module declaration: one flag per
// field, --connection when the module needs one.
func newModuleCmd(a *app, m *module.Module) *cobra.Command {
	var connName string
	cmd := &cobra.Command{
		Use:   m.Verb,
		Short: m.Title,
		Long:  m.Title + ": " + m.Help,
		Args:  noArgs,
	}
	flags := cmd.Flags()
	flags.SortFlags = false
	if m.NeedsConnection {
		flags.StringVarP(&connName, "connection", "c", os.Getenv(connectionEnv),
			"connection to use: local, env, or one made with 's3flow connection create' (default $"+connectionEnv+")")
	}
	for _, f := range m.Fields {
		addFieldFlag(flags, f)
	}
	completeModuleFlags(a, cmd, m, &connName)
	cmd.Example = moduleExample(m)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		raw, err := flagValues(cmd.Flags(), m)
		if err != nil {
			return err
		}
		in, err := m.Check(raw)
		if err != nil {
			return &moduleError{m, err}
		}
		// The CLI is run by the machine's own user: the whole disk and the
		// terminal are theirs.
		env := module.Env{Stdout: a.io.Out, Logger: a.logger(), Files: module.AllLocalFiles()}
		out, tty := a.io.Out, a.io.OutTTY
		if m.ReachOf(in)&module.ReachStdout != 0 {
			// the data goes to standard output, the bundles beside it
			out, tty = a.io.Err, a.io.ErrTTY
		}
		p, err := newPrinter(out, a.outputFormat(), m.Outputs, tty && !m.Many)
		if err != nil {
			return err
		}
		if m.NeedsConnection {
			if connName == "" {
				return usagef("--connection is required (or set $%s); 's3flow connection list' shows them", connectionEnv)
			}
			conn, err := a.resolve(cmd.Context(), connName)
			if err != nil {
				return err
			}
			env.Connection = &conn
		}
		if a.io.ErrTTY {
			prog := newProgress(a.io.Err)
			defer prog.Wait()
			env.Progress = prog
		}
		runErr := m.Exec(cmd.Context(), env, in, p.Print)
		if out == a.io.Err {
			// the notes below go to the same stream, after the bundles
			runErr = errors.Join(runErr, p.Flush())
		}
		if runErr == nil && env.Connection != nil && env.Connection.Kind == connection.KindLocal && m.GivesLinks() && a.conns.temporaryLocal() {
			fmt.Fprintf(a.io.Err, "note: links to the local connection work only while \"s3flow local serve\" runs, and it does not: "+
				"this link stopped working when this command ended. Start \"s3flow local serve\" in another terminal, then run this command again.\n")
		}
		p.failed = runErr != nil
		if runErr == nil && p.rows == 0 && m.Many {
			// Nothing on stdout but a table's header: say what was empty,
			// beside the output, where programs reading it do not see it.
			note := "no results"
			if m.Empty != nil {
				note = m.Empty(in)
			}
			fmt.Fprintln(a.io.Err, note)
		}
		if err := errors.Join(runErr, p.Close()); err != nil {
			return &moduleError{m, err}
		}
		return nil
	}
	return cmd
}

func addFieldFlag(flags *pflag.FlagSet, f module.Field) {
	usage := f.Help
	if f.Required {
		usage += " (required)"
	}
	if len(f.Choices) > 0 {
		usage += " [" + strings.Join(f.Choices, "|") + "]"
	}
	name := f.FlagName()
	switch f.Type {
	case module.Int:
		def, _ := f.Default.(int64)
		flags.Int64(name, def, usage)
	case module.Bool:
		def, _ := f.Default.(bool)
		flags.Bool(name, def, usage)
	case module.Pairs, module.List:
		flags.StringArray(name, nil, usage+" (repeatable)")
	default:
		def, _ := f.Default.(string)
		flags.String(name, def, usage)
	}
}

// flagValues collects the flags a user set, as raw values for Check.
func flagValues(flags *pflag.FlagSet, m *module.Module) (map[string]any, error) {
	raw := map[string]any{}
	for _, f := range m.Fields {
		name := f.FlagName()
		if !flags.Changed(name) {
			continue
		}
		switch f.Type {
		case module.Int:
			raw[f.Name], _ = flags.GetInt64(name)
		case module.Bool:
			raw[f.Name], _ = flags.GetBool(name)
		case module.Pairs:
			items, _ := flags.GetStringArray(name)
			pairs, err := module.ParsePairs(items, f.Separator)
			if err != nil {
				return nil, usagef("--%s: %v", name, err)
			}
			raw[f.Name] = pairs
		case module.List:
			items, _ := flags.GetStringArray(name)
			list := make([]any, len(items))
			for i, it := range items {
				list[i] = it
			}
			raw[f.Name] = list
		case module.FileRef:
			// A path on the command line is a local file, checked now.
			p, _ := flags.GetString(name)
			file, err := module.NewLocalFile(p)
			if err != nil {
				return nil, usagef("--%s: %v", name, err)
			}
			raw[f.Name] = file
		case module.Body:
			// @FILE sends a file: a CLI-only way of giving one; module
			// inputs never open a path by themselves.
			text, _ := flags.GetString(name)
			if p, ok := strings.CutPrefix(text, "@"); ok {
				file, err := module.NewLocalFile(p)
				if err != nil {
					return nil, usagef("--%s: %v", name, err)
				}
				raw[f.Name] = file
				continue
			}
			raw[f.Name] = text
		default:
			raw[f.Name], _ = flags.GetString(name)
		}
	}
	return raw, nil
}

// moduleError is an error of a module's command: report names its
// fields by their flags.
type moduleError struct {
	module *module.Module
	err    error
}

func (e *moduleError) Error() string { return e.err.Error() }
func (e *moduleError) Unwrap() error { return e.err }

// withFlags renders an input error of m's command with flag names: the
// field it blames and the fields its rule names.
func withFlags(m *module.Module, input *module.InputError) string {
	flag := func(name string) string {
		if f, ok := m.Field(name); ok {
			return "--" + f.FlagName()
		}
		return name
	}
	if input.Field == "" {
		return input.RuleNaming(flag)
	}
	return flag(input.Field) + ": " + input.RuleNaming(flag)
}

// moduleExample is the help's examples: the module's declared ones, or one
// made of its required fields.
func moduleExample(m *module.Module) string {
	examples := m.Examples
	if len(examples) == 0 {
		examples = []module.Example{requiredExample(m)}
	}
	lines := make([]string, len(examples))
	for i, ex := range examples {
		var b strings.Builder
		fmt.Fprintf(&b, "  s3flow s3 %s", m.Verb)
		if m.NeedsConnection {
			b.WriteString(" --connection local")
		}
		for _, in := range ex.With {
			f, ok := m.Field(in.Name)
			if !ok {
				panic(fmt.Sprintf("module %s: an example names %q, which is not a field", m.Name, in.Name))
			}
			if f.Type == module.Bool && in.Value == "true" {
				fmt.Fprintf(&b, " --%s", f.FlagName())
				continue
			}
			fmt.Fprintf(&b, " --%s %s", f.FlagName(), shellQuote(in.Value))
		}
		if ex.Says != "" {
			b.WriteString("   # " + ex.Says)
		}
		lines[i] = b.String()
	}
	return strings.Join(lines, "\n")
}

// requiredExample gives each required field its Example value.
func requiredExample(m *module.Module) module.Example {
	var ex module.Example
	for _, f := range m.Fields {
		if !f.Required {
			continue
		}
		v := f.Example
		if v == "" {
			switch f.Name {
			case "bucket":
				v = "demo"
			case "file":
				v = "./report.csv"
			default:
				v = "..."
			}
		}
		ex.With = append(ex.With, module.Pair{Name: f.Name, Value: v})
	}
	return ex
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " ?*&$'\"") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}
