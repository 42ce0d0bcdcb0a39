package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentFlagErrors: bad agent flags are refused with an error naming
// the flag, before anything is served.
func TestAgentFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad regexp", []string{"--interfaces", "("}, "--interfaces"},
		{"missing port map", []string{"--port-map", filepath.Join(dir, "ports.yaml")}, "ports.yaml"},
		{"unknown LLDP source", []string{"--lldp", "--lldp-source", "cdp"}, `--lldp-source "cdp"`},
		{"lldpd not answering", []string{"--lldp", "--lldp-source", "lldpd", "--lldpd-socket", filepath.Join(dir, "lldpd.socket")}, "--lldp-source lldpd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"agent", "--listen", freeAddr(t)}, tc.args...)
			if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
