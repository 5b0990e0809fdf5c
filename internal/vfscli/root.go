package vfscli

import (
	"strings"

	"github.com/spf13/cobra"
)

// commands lists every `strata fs` subcommand; one constructor per file,
// named for the command.
func (a *app) commands() []*cobra.Command {
	return []*cobra.Command{
		a.initCommand(), a.destroyCommand(), a.gcCommand(),
		a.lsCommand(), a.catCommand(), a.writeCommand(), a.rmCommand(), a.mvCommand(),
		a.logCommand(), a.diffCommand(), a.cmpCommand(),
		a.undoCommand(), a.redoCommand(), a.reflogCommand(),
		a.branchCommand(), a.tagCommand(), a.noteCommand(),
		a.cpCommand(), a.syncCommand(),
		a.zipCommand(), a.unzipCommand(), a.tarCommand(), a.untarCommand(), a.archiveCommand(), a.unarchiveCommand(),
		a.backupCommand(), a.restoreCommand(), a.serveCommand(), a.gitserveCommand(),
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "fs",
		Short: "The embedded versioned filesystem",
		Long: "strata fs treats a bare Git repository as a versioned filesystem:\n" +
			"every write is a commit; branches, tags, history, undo and redo.\n\n" +
			"Repository paths are written [ref[~N]]:path (':' alone is the root of\n" +
			"the current branch); see docs/vfs.md.",
		Version:       version(),
		Args:          noArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "strata fs"},
		// Without a subcommand, print help (as click does for a group).
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetVersionTemplate("strata fs, version {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVarP(&a.repo, "repo", "r", "", "repository path (default $STRATA_REPO)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "print status lines on stderr")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usagef("%s", err)
	})
	root.AddCommand(a.commands()...)
	return root
}

// usageArgs makes a cobra argument check a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usagef("%s", err)
		}
		return nil
	}
}

// noArgs refuses arguments; on a command group an argument is an unknown
// subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return usagef("%s takes no arguments", cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.ExactArgs(n)) }
func minArgs(n int) cobra.PositionalArgs   { return usageArgs(cobra.MinimumNArgs(n)) }
func maxArgs(n int) cobra.PositionalArgs   { return usageArgs(cobra.MaximumNArgs(n)) }

// isUsageText recognises the errors cobra itself makes for a bad command
// line before any of our checks run.
func isUsageText(msg string) bool {
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag")
}
