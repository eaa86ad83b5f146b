package cli

import (
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
	}
	root.SetIn(a.io.In)
	root.SetOut(a.io.Out)
	root.SetErr(a.io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.BoolVar(&a.debug, "debug", false, "log each S3 request to stderr (never secrets or signatures)")
	pf.StringVarP(&a.output, "output", "o", "", "output format: table, json or jsonl (default: table on a terminal, jsonl otherwise)")
	root.AddCommand(newS3Cmd(a), newConnectionCmd(a), newLocalCmd(a))
	return root
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
