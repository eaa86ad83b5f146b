package cli

import (
	"cmp"
	"fmt"
	"io"
	"log"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/module"
)

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "s3flow",
		Short:         "Automation flows for Amazon S3 and S3-compatible stores",
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRun: func(*cobra.Command, []string) {
			// Libraries (the transfer manager) print to the standard logger;
			// with --debug it goes to stderr, otherwise nowhere: s3flow
			// reports failures itself, once.
			if a.debug {
				log.SetOutput(a.io.Err)
			} else {
				log.SetOutput(io.Discard)
			}
		},
	}
	root.SetIn(a.io.In)
	root.SetOut(a.io.Out)
	root.SetErr(a.io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.BoolVar(&a.debug, "debug", false, "log each S3 request to stderr (never secrets or signatures)")
	pf.StringVarP(&a.output, "output", "o", "", "output format: table, json or jsonl (default: table on a terminal, jsonl otherwise)")
	pf.StringVar(&a.database, "database", "", "a postgres:// URL of the database that servers and workers share (default: $S3FLOW_DATABASE, else SQLite in $S3FLOW_HOME)")
	root.AddCommand(newS3Cmd(a), newConnectionCmd(a), newLocalCmd(a), newRunCmd(a), newValidateCmd(a), newRunsCmd(a), newTriggerCmd(a),
		newServerCmd(a), newWorkerCmd(a), newTokenCmd(a))
	completeArgs(a, root)
	root.Long = rootLong(a.registry, root)
	for _, cmd := range append([]*cobra.Command{root}, root.Commands()...) {
		if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
			asGroup(cmd)
		}
	}
	return root
}

// rootLong is the top-level help: every module group of the registry with
// its verbs, and where each runs (a command of its own, or flows only).
func rootLong(reg *module.Registry, root *cobra.Command) string {
	var b strings.Builder
	b.WriteString("s3flow runs modules on their own or chained into flows ('s3flow run FLOW.yaml').\n\nModules:\n")
	var groups []string
	verbs := map[string][]string{}
	for _, m := range reg.All() {
		group, _, _ := strings.Cut(m.Name, ".")
		if _, ok := verbs[group]; !ok {
			groups = append(groups, group)
		}
		verbs[group] = append(verbs[group], m.Verb)
	}
	width := 0
	for _, g := range groups {
		width = max(width, len(g))
	}
	for _, g := range groups {
		where := "in flows only"
		if cmd, _, err := root.Find([]string{g}); err == nil && cmd != root {
			where = fmt.Sprintf("'s3flow %s VERB', and in flows", g)
		}
		fmt.Fprintf(&b, "  %-*s  %s\n", width, g, wrapWords(strings.Join(verbs[g], ", ")+" ("+where+")", 76-width, width+4))
	}
	b.WriteString(`
With no cloud account, use the connection "local": an S3-compatible endpoint
with its data under $S3FLOW_HOME/local-s3.`)
	return b.String()
}

// wrapWords breaks text into lines of at most width, indenting the lines
// after the first by indent spaces.
func wrapWords(text string, width, indent int) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(text) {
		if i > 0 && line+1+len(w) > width {
			b.WriteString("\n" + strings.Repeat(" ", indent))
			line = 0
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// version is what --version shows: the version set at build time, else
// the module version and VCS revision the Go toolchain recorded.
func version() string {
	if Version != "dev" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	return buildVersion(info)
}

// buildVersion renders build info as "v1.2.0 (revision 0123456789ab,
// 2026-12-01T10:00:00Z, modified)": the module version (go install
// ...@v1.2.0) or "(devel)" for a build in a checkout, and the commit it
// was built from when the toolchain stamped one.
func buildVersion(info *debug.BuildInfo) string {
	v := cmp.Or(info.Main.Version, "(devel)")
	var details []string
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		details = append(details, "revision "+rev[:min(12, len(rev))])
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, t)
	}
	if settings["vcs.modified"] == "true" {
		details = append(details, "modified")
	}
	if len(details) > 0 {
		v += " (" + strings.Join(details, ", ") + ")"
	}
	return v
}

// asGroup makes a command that only groups others show its help when run
// alone and refuse an unknown subcommand as a usage error. Left to cobra,
// "s3flow s3 lst-files" would print help and exit 0, and "s3flow nope" would
// exit 1 as if S3 had failed.
func asGroup(cmd *cobra.Command) {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		cmd.SuggestionsMinimumDistance = 2
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usagef("%s (see '%s --help')", msg, cmd.CommandPath())
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// exactName wants one NAME argument.
func exactName(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s needs exactly one NAME", cmd.CommandPath())
	}
	return nil
}
