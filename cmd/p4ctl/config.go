package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Manage the client's contexts: named clusters with their addresses and TLS files",
		Long: `config edits the client config file, $` + envConfig + ` or else
$XDG_CONFIG_HOME/p4ctl/config.yaml (~/.config/p4ctl/config.yaml). Each
context names a cluster: its API addresses, tried in order as --server's,
and the TLS files that reach it. Client commands use the current context,
or the one --context or $` + envContext + ` names; --server, $` + envServer + `
and the --tls-* flags win over a context's settings (flags over the
environment over the file).`,
		Example: `  p4ctl config set-context lab --server 127.0.0.1:9600 --use
  p4ctl config set-context prod --server 10.0.0.1:9600,10.0.0.2:9600 --tls-ca ca.pem --tls-cert me.pem --tls-key me-key.pem
  p4ctl config get-contexts
  p4ctl config use-context prod
  P4CTL_CONTEXT=lab p4ctl get devices`,
	}
	cmd.AddCommand(newGetContextsCmd(), newUseContextCmd(), newSetContextCmd(), newDeleteContextCmd(), newCurrentContextCmd(), newConfigViewCmd())
	return cmd
}

// editConfig loads the config file, lets edit change it and saves it.
func editConfig(edit func(path string, c *clientConfig) error) error {
	path, err := clientConfigPath()
	if err != nil {
		return err
	}
	c, err := loadClientConfig(path)
	if err != nil {
		return err
	}
	if err := edit(path, c); err != nil {
		return err
	}
	return c.save(path)
}

// readConfig loads the config file.
func readConfig() (string, *clientConfig, error) {
	path, err := clientConfigPath()
	if err != nil {
		return "", nil, err
	}
	c, err := loadClientConfig(path)
	return path, c, err
}

// currentContext is the context client commands use without --context:
// $P4CTL_CONTEXT, else the file's current one.
func currentContext(c *clientConfig) string {
	if env := os.Getenv(envContext); env != "" {
		return env
	}
	return c.CurrentContext
}

// completeContexts completes context names.
func completeContexts(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	_, c, err := readConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.names(), cobra.ShellCompDirectiveNoFileComp
}

// contextView is a context in json and yaml.
type contextView struct {
	clientContext
	Current bool `json:"current"`
}

func newGetContextsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts; * marks the one in use (-o name: context/NAME)",
		Example: `  p4ctl config get-contexts
  p4ctl config get-contexts -o name`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, c, err := readConfig()
			if err != nil {
				return err
			}
			cur := currentContext(c)
			w := cmd.OutOrStdout()
			switch f := output(cmd).Format(); f {
			case FormatName:
				names := c.names()
				for i, n := range names {
					names[i] = "context/" + n
				}
				return printNames(w, names)
			case FormatJSON, FormatYAML:
				out := []contextView{}
				for _, cx := range c.Contexts {
					if cx.Servers == nil {
						cx.Servers = []string{}
					}
					out = append(out, contextView{clientContext: cx, Current: cx.Name == cur})
				}
				return printData(w, f, out)
			}
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "CURRENT\tNAME\tSERVERS\tTLS")
			for _, cx := range c.Contexts {
				mark := ""
				if cx.Name == cur {
					mark = "*"
				}
				tls := "-"
				switch {
				case cx.TLSCert != "":
					tls = "mutual (" + cx.TLSCert + ")"
				case cx.TLSCA != "" || cx.TLSServerName != "":
					tls = "server verified"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark, cx.Name, orDash(strings.Join(cx.Servers, ",")), tls)
			}
			return tw.Flush()
		},
	}
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML, FormatName)
	return cmd
}

func newUseContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "use-context NAME",
		Short:             "Make a context the current one",
		Example:           `  p4ctl config use-context prod`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			args[0] = strings.TrimPrefix(args[0], "context/")
			err := editConfig(func(path string, c *clientConfig) error {
				if _, ok := c.find(args[0]); !ok {
					return c.notFound(args[0], "use-context", path)
				}
				c.CurrentContext = args[0]
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "switched to context %q\n", args[0])
			if env := os.Getenv(envContext); env != "" && env != args[0] {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: $%s=%s wins over the current context in this shell\n", envContext, env)
			}
			return nil
		},
	}
}

func newSetContextCmd() *cobra.Command {
	var (
		servers                   []string
		ca, cert, key, serverName string
		use                       bool
	)
	cmd := &cobra.Command{
		Use:   "set-context NAME [--server ADDR,...] [--tls-ca F] [--tls-cert F --tls-key F] [--tls-server-name N] [--use]",
		Short: "Add a context, or change the settings given of one",
		Long: `set-context adds the context NAME, or changes the settings given of an
existing one (the others are kept; an empty value clears one). TLS file
names are stored as absolute paths.`,
		Example: `  p4ctl config set-context lab --server 127.0.0.1:9600 --use
  p4ctl config set-context prod --server 10.0.0.1:9600,10.0.0.2:9600 --tls-ca /etc/p4ctl/ca.pem \
      --tls-cert ~/.p4ctl/me.pem --tls-key ~/.p4ctl/me-key.pem --tls-server-name p4ctl.example.net`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if strings.TrimSpace(name) == "" {
				return fmt.Errorf("a context needs a name")
			}
			created := false
			err := editConfig(func(path string, c *clientConfig) error {
				cx, ok := c.find(name)
				if !ok {
					c.Contexts = append(c.Contexts, clientContext{Name: name})
					cx, created = &c.Contexts[len(c.Contexts)-1], true
				}
				if cmd.Flags().Changed("server") {
					cx.Servers = splitList(strings.Join(servers, ","))
				}
				for _, f := range []struct {
					flag string
					v    string
					out  *string
					file bool
				}{{"tls-ca", ca, &cx.TLSCA, true}, {"tls-cert", cert, &cx.TLSCert, true}, {"tls-key", key, &cx.TLSKey, true}, {"tls-server-name", serverName, &cx.TLSServerName, false}} {
					if !cmd.Flags().Changed(f.flag) {
						continue
					}
					v := f.v
					if f.file && v != "" {
						abs, err := filepath.Abs(v)
						if err != nil {
							return fmt.Errorf("--%s: %w", f.flag, err)
						}
						v = abs
					}
					*f.out = v
				}
				if (cx.TLSCert == "") != (cx.TLSKey == "") {
					return fmt.Errorf("context %q: a certificate and its key go together: give --tls-cert and --tls-key", name)
				}
				if use {
					c.CurrentContext = name
				}
				return nil
			})
			if err != nil {
				return err
			}
			what := "modified"
			if created {
				what = "created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "context %q %s\n", name, what)
			if use {
				fmt.Fprintf(cmd.OutOrStdout(), "switched to context %q\n", name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&servers, "server", "s", nil, "the cluster's API addresses, comma-separated, tried in order")
	f.StringVar(&ca, "tls-ca", "", "CA bundle (PEM) that verifies the API")
	f.StringVar(&cert, "tls-cert", "", "client certificate (PEM) for mutual TLS")
	f.StringVar(&key, "tls-key", "", "key (PEM) of --tls-cert")
	f.StringVar(&serverName, "tls-server-name", "", "name to verify in the API's certificate (default: the host dialled)")
	f.BoolVar(&use, "use", false, "also make it the current context")
	return cmd
}

func newDeleteContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "delete-context NAME",
		Short:             "Remove a context (the current one too: then there is none)",
		Example:           `  p4ctl config delete-context old-lab`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			args[0] = strings.TrimPrefix(args[0], "context/")
			err := editConfig(func(path string, c *clientConfig) error {
				if _, ok := c.find(args[0]); !ok {
					return c.notFound(args[0], "delete-context", path)
				}
				c.Contexts = slices.DeleteFunc(c.Contexts, func(x clientContext) bool { return x.Name == args[0] })
				if c.CurrentContext == args[0] {
					c.CurrentContext = ""
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "context %q deleted\n", args[0])
			return nil
		},
	}
}

func newCurrentContextCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "current-context",
		Short:   "Print the context client commands use ($" + envContext + ", else the config's current one)",
		Example: `  p4ctl config current-context`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, c, err := readConfig()
			if err != nil {
				return err
			}
			cur := currentContext(c)
			if cur == "" {
				return fmt.Errorf("no current context in %s (p4ctl config use-context NAME sets one)", path)
			}
			fmt.Fprintln(cmd.OutOrStdout(), cur)
			return nil
		},
	}
}

func newConfigViewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the config file's path and contents",
		Example: `  p4ctl config view
  p4ctl config view -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, c, err := readConfig()
			if err != nil {
				return err
			}
			if c.Contexts == nil {
				c.Contexts = []clientContext{}
			}
			for i := range c.Contexts {
				if c.Contexts[i].Servers == nil {
					c.Contexts[i].Servers = []string{}
				}
			}
			w := cmd.OutOrStdout()
			f := output(cmd).Format()
			if f == FormatYAML {
				fmt.Fprintf(w, "# %s\n", path)
			}
			return printData(w, f, c)
		},
	}
	addOutput(cmd, FormatYAML, FormatJSON)
	return cmd
}
