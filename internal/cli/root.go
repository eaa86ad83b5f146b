package cli

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "s3flow",
		Short: "Automation flows for Amazon S3 and S3-compatible stores",
		Long: `s3flow runs S3 modules (create a bucket, get a file, upload a file, make an
API call, list files, list folders) on their own or chained into flows.

With no cloud account, use the connection "local": an S3-compatible endpoint
with its data under $S3FLOW_HOME/local-s3.`,
		Version:       Version,
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
	for _, cmd := range append([]*cobra.Command{root}, root.Commands()...) {
		if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
			asGroup(cmd)
		}
	}
	return root
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
