package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "p4ctl")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := func() *Config {
		c := DefaultConfig()
		c.P4ctl = bin
		return c
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("default config with a binary: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no binary", func(c *Config) { c.P4ctl = "" }, "not named"},
		{"missing binary", func(c *Config) { c.P4ctl = bin + ".none" }, "no such file"},
		{"not executable", func(c *Config) { c.P4ctl = plain }, "not an executable"},
		{"short", func(c *Config) { c.Duration = time.Millisecond }, "duration"},
		{"no writers", func(c *Config) { c.Writers = 0 }, "writers"},
		{"no apply timeout", func(c *Config) { c.ApplyTimeout = 0 }, "apply timeout"},
		{"negative pause", func(c *Config) { c.WritePause = -time.Second }, "write pause"},
		{"no writes", func(c *Config) { c.MaxWrites = 0 }, "max writes"},
		{"interval upside down", func(c *Config) { c.FaultMaxInterval = c.FaultMinInterval - time.Second }, "fault interval"},
		{"down upside down", func(c *Config) { c.DownMax = c.DownMin - time.Millisecond }, "down time"},
		{"overlapping faults", func(c *Config) { c.DownMax = c.FaultMinInterval }, "before the next fault"},
		{"no start timeout", func(c *Config) { c.StartTimeout = 0 }, "start timeout"},
		{"no converge timeout", func(c *Config) { c.ConvergeTimeout = 0 }, "converge timeout"},
		{"monitor too often", func(c *Config) { c.MonitorInterval = time.Millisecond }, "monitor interval"},
	} {
		c := good()
		tc.change(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	var nilConfig *Config
	if nilConfig.Validate() == nil {
		t.Error("a nil config validates")
	}
}
