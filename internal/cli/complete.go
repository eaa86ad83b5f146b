package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/runs"
)

// completionTimeout bounds what completion may ask a server: a shell that
// waits longer than this for a Tab is worse than no suggestion.
const completionTimeout = 3 * time.Second

// completeModuleFlags registers shell completion of a module command's
// flags from the field declarations: choices, bucket names from the
// connection, folders and files in the chosen bucket, local paths from the
// disk; nothing for plain text (no file names where none fit).
func completeModuleFlags(a *app, cmd *cobra.Command, m *module.Module, connName *string) {
	if m.NeedsConnection {
		cmd.RegisterFlagCompletionFunc("connection", a.completeConnections)
	}
	var bucketFlag string
	for _, f := range m.Fields {
		if f.Kind == module.Bucket && bucketFlag == "" {
			bucketFlag = f.FlagName()
		}
	}
	for _, f := range m.Fields {
		var fn cobra.CompletionFunc
		switch {
		case len(f.Choices) > 0:
			fn = cobra.FixedCompletions(f.Choices, cobra.ShellCompDirectiveNoFileComp)
		case f.Kind == module.LocalPath || f.Kind == module.LocalPathOrStdout || f.Type == module.FileRef || f.Type == module.Body:
			continue // the shell's own file names
		case f.Kind == module.Bucket:
			fn = func(cmd *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
				return a.completeBuckets(cmd.Context(), *connName, typed)
			}
		case f.Kind == module.Folder || f.Kind == module.ObjectKey:
			withFiles := f.Kind == module.ObjectKey
			fn = func(cmd *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
				bucket, _ := cmd.Flags().GetString(bucketFlag)
				return a.completeKeys(cmd.Context(), *connName, bucket, typed, withFiles)
			}
		default:
			fn = cobra.NoFileCompletions
		}
		cmd.RegisterFlagCompletionFunc(f.FlagName(), fn)
	}
}

// completeConnections offers the connections' names.
func (a *app) completeConnections(cmd *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
	st, err := a.connections(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	names, err := st.Names(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	return withPrefix(names, typed), cobra.ShellCompDirectiveNoFileComp
}

// completeBuckets lists the connection's buckets.
func (a *app) completeBuckets(ctx context.Context, connName, typed string) ([]string, cobra.ShellCompDirective) {
	var names []string
	err := a.completionCall(ctx, connName, "s3.list_buckets", map[string]any{}, func(b module.Bundle) {
		if name, ok := b["name"].(string); ok {
			names = append(names, name)
		}
	})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	return withPrefix(names, typed), cobra.ShellCompDirectiveNoFileComp
}

// completeKeys lists the folders (and files) one level under what is typed.
func (a *app) completeKeys(ctx context.Context, connName, bucket, typed string, withFiles bool) ([]string, cobra.ShellCompDirective) {
	if bucket == "" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	lead := ""
	if strings.HasPrefix(typed, "/") {
		lead = "/"
	}
	rest := strings.TrimPrefix(typed, "/")
	base := rest[:strings.LastIndex(rest, "/")+1]
	in := map[string]any{"bucket": bucket, "prefix": base, "limit": int64(200)}
	var keys []string
	collect := func(field string) func(module.Bundle) {
		return func(b module.Bundle) {
			if k, ok := b[field].(string); ok {
				keys = append(keys, lead+k)
			}
		}
	}
	if err := a.completionCall(ctx, connName, "s3.list_folders", in, collect("prefix")); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	if withFiles {
		if err := a.completionCall(ctx, connName, "s3.list_files", in, collect("key")); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
		}
	}
	// A folder goes on being typed: no space after it.
	return withPrefix(keys, typed), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completionCall runs a listing module on a connection, within
// completionTimeout, through the same Exec as every other call.
func (a *app) completionCall(ctx context.Context, connName, name string, raw map[string]any, each func(module.Bundle)) error {
	if connName == "" {
		return errNoConnection
	}
	m, ok := a.registry.Lookup(name)
	if !ok {
		return errNoConnection
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	in, err := m.Check(raw)
	if err != nil {
		return err
	}
	conn, err := a.resolve(ctx, connName)
	if err != nil {
		return err
	}
	return m.Exec(ctx, module.Env{Connection: &conn, Logger: a.logger()}, in, func(b module.Bundle) error {
		each(b)
		return nil
	})
}

var errNoConnection = usagef("no connection to complete from")

// completeRunIDs offers the latest runs' ids, newest first.
func (a *app) completeRunIDs(cmd *cobra.Command, args []string, typed string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	hist, err := a.history(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	rs, err := hist.List(cmd.Context(), runs.Filter{Limit: 50})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID+"\t"+r.Flow+" "+r.Status)
	}
	return withPrefix(ids, typed), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// completeFlowFiles offers YAML files.
func completeFlowFiles(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeConnectionArg offers connection names as a command's argument.
func (a *app) completeConnectionArg(cmd *cobra.Command, args []string, typed string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return a.completeConnections(cmd, args, typed)
}

func withPrefix(items []string, typed string) []string {
	var out []string
	for _, it := range items {
		if strings.HasPrefix(it, typed) {
			out = append(out, it)
		}
	}
	return out
}

// completeArgs gives the commands that take names as arguments their
// completion, in one table.
func completeArgs(a *app, root *cobra.Command) {
	byPath := map[string]cobra.CompletionFunc{
		"s3flow connection show":   a.completeConnectionArg,
		"s3flow connection delete": a.completeConnectionArg,
		"s3flow runs show":         a.completeRunIDs,
		"s3flow runs retry":        a.completeRunIDs,
		"s3flow run":               completeFlowFiles,
		"s3flow validate":          completeFlowFiles,
		"s3flow trigger sample":    completeFlowFiles,
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if fn, ok := byPath[cmd.CommandPath()]; ok && cmd.ValidArgsFunction == nil {
			cmd.ValidArgsFunction = fn
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}
