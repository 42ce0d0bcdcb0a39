package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCompletionCmd is `p4ctl completion SHELL`: the shell's completion
// script for root. Completion offers commands, flags, kinds, -o formats,
// targets, and the names of objects, devices, members, revisions and
// contexts; names come from the server (within a second; none when it
// does not answer) or the client config.
func newCompletionCmd(root *cobra.Command) *cobra.Command {
	root.CompletionOptions.DisableDefaultCmd = true
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `completion prints the completion script for a shell. It completes
commands and flags, kinds, -o formats, --target values and, asked from the
server at --server (or the context's) with a one second timeout, the names
of objects, devices (--device), cluster members and revisions.`,
		Example: `  # bash (needs the bash-completion package):
  p4ctl completion bash > ~/.local/share/bash-completion/completions/p4ctl
  # zsh (a directory on $fpath, then restart zsh):
  p4ctl completion zsh > "${fpath[1]}/_p4ctl"
  # fish:
  p4ctl completion fish > ~/.config/fish/completions/p4ctl.fish
  # this shell only:
  source <(p4ctl completion bash)`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(w)
			}
			return fmt.Errorf("unknown shell %q: want one of bash, zsh, fish, powershell", args[0])
		},
	}
	return cmd
}
