package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// The client's config file holds named contexts, like kubeconfig: each
// the API addresses of one cluster and the TLS files to reach it, one of
// them current. Where a setting comes from, first found wins: a flag
// (--server, --tls-*, --context), then the environment ($P4CTL_SERVER,
// $P4CTL_CONTEXT), then the file's current context, then the default
// address.

// Environment variables of the client config.
const (
	envConfig  = "P4CTL_CONFIG"  // the config file's path
	envContext = "P4CTL_CONTEXT" // the context to use instead of the current one
)

// clientConfig is the config file.
type clientConfig struct {
	CurrentContext string          `yaml:"current_context,omitempty" json:"current_context"`
	Contexts       []clientContext `yaml:"contexts" json:"contexts"`
}

// clientContext is one named cluster: its API addresses (tried in
// order, as --server's) and the TLS files that reach it. Relative file
// names are relative to the config file's directory.
type clientContext struct {
	Name          string   `yaml:"name" json:"name"`
	Servers       []string `yaml:"servers" json:"servers"`
	TLSCA         string   `yaml:"tls_ca,omitempty" json:"tls_ca,omitempty"`
	TLSCert       string   `yaml:"tls_cert,omitempty" json:"tls_cert,omitempty"`
	TLSKey        string   `yaml:"tls_key,omitempty" json:"tls_key,omitempty"`
	TLSServerName string   `yaml:"tls_server_name,omitempty" json:"tls_server_name,omitempty"`
}

// tlsFiles are the context's TLS settings, file names made absolute
// against dir.
func (c *clientContext) tlsFiles(dir string) tlsconf.Files {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	return tlsconf.Files{CA: abs(c.TLSCA), Cert: abs(c.TLSCert), Key: abs(c.TLSKey), ServerName: c.TLSServerName}
}

// clientConfigPath is the config file's path: $P4CTL_CONFIG, else
// $XDG_CONFIG_HOME/p4ctl/config.yaml, else ~/.config/p4ctl/config.yaml.
func clientConfigPath() (string, error) {
	if p := os.Getenv(envConfig); p != "" {
		return p, nil
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "p4ctl", "config.yaml"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("client config: no $%s, $XDG_CONFIG_HOME or home directory: %w", envConfig, err)
	}
	return filepath.Join(home, ".config", "p4ctl", "config.yaml"), nil
}

// loadClientConfig reads the config file at path; a file that does not
// exist is an empty config.
func loadClientConfig(path string) (*clientConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &clientConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c clientConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, errEOF) {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	seen := map[string]bool{}
	for _, cx := range c.Contexts {
		if cx.Name == "" {
			return nil, fmt.Errorf("%s: a context without a name", path)
		}
		if seen[cx.Name] {
			return nil, fmt.Errorf("%s: context %q is defined twice", path, cx.Name)
		}
		seen[cx.Name] = true
	}
	return &c, nil
}

// errEOF is what decoding an empty file returns.
var errEOF = func() error {
	var v any
	return yaml.NewDecoder(bytes.NewReader(nil)).Decode(&v)
}()

// save writes the config to path (its directory made, private to the
// user: the file names key files), through a temporary file.
func (c *clientConfig) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("# p4ctl client config: p4ctl config set-context | use-context | get-contexts\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// find is the context named name.
func (c *clientConfig) find(name string) (*clientContext, bool) {
	i := slices.IndexFunc(c.Contexts, func(x clientContext) bool { return x.Name == name })
	if i < 0 {
		return nil, false
	}
	return &c.Contexts[i], true
}

// names are the contexts' names, in the file's order.
func (c *clientConfig) names() []string {
	out := make([]string, len(c.Contexts))
	for i, x := range c.Contexts {
		out[i] = x.Name
	}
	return out
}

// notFound refuses a context the file lacks, naming the ones it has.
func (c *clientConfig) notFound(name, from, path string) error {
	have := "none"
	if len(c.Contexts) > 0 {
		have = strings.Join(c.names(), ", ")
	}
	return fmt.Errorf("context %q (%s) is not in %s (contexts: %s; p4ctl config set-context adds one)", name, from, path, have)
}
