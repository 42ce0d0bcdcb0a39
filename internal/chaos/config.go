// Package chaos runs a chaos test of a p4ctl cluster: three controller
// nodes and two simulated devices as child processes on loopback, writers
// applying endpoints through random nodes while a nemesis kills and
// restarts nodes and a device, then checks that no acknowledged write was
// lost and that nodes, histories and devices converged to one state.
package chaos

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Config is one chaos run. Start from DefaultConfig and check it with
// Validate before Run.
type Config struct {
	// P4ctl is the path of the p4ctl binary the nodes and devices run.
	P4ctl string
	// Duration is how long the writers and the nemesis run.
	Duration time.Duration
	// Seed drives every random choice (nodes written to, fault targets
	// and times); the run prints it so a run can be repeated.
	Seed int64
	// Writers is the number of goroutines applying endpoints.
	Writers int
	// ApplyTimeout bounds each Apply call.
	ApplyTimeout time.Duration
	// WritePause is each writer's pause between two applies.
	WritePause time.Duration
	// MaxWrites bounds the apply attempts of all writers together.
	MaxWrites int
	// FaultMinInterval and FaultMaxInterval bound the random wait before
	// each fault.
	FaultMinInterval, FaultMaxInterval time.Duration
	// DownMin and DownMax bound how long a killed process stays down.
	DownMin, DownMax time.Duration
	// StartTimeout bounds the wait for a started process to serve.
	StartTimeout time.Duration
	// ConvergeTimeout bounds the wait, after the faults end, for every
	// node and device to reach one state.
	ConvergeTimeout time.Duration
	// MonitorInterval is how often every device's entry count is read
	// during the run, to catch entries removed while the model only grew;
	// 0 turns the monitor off.
	MonitorInterval time.Duration
	// AllowEntryRemovals reports device entries that went down, and
	// reconciles that deleted entries, without failing the run.
	AllowEntryRemovals bool
	// WorkDir is where the run's temporary directory is made; empty means
	// os.TempDir().
	WorkDir string
	// KeepWorkDir keeps the run's directory (node data and logs) even
	// when the run passes; a failed run always keeps it.
	KeepWorkDir bool
	// Log receives progress lines as the run goes; nil discards them.
	Log io.Writer
}

// DefaultConfig returns the settings of a 300 s run with a seed taken
// from the clock. P4ctl is left empty: the caller names the binary.
func DefaultConfig() *Config {
	return &Config{
		Duration:         300 * time.Second,
		Seed:             time.Now().UnixNano(),
		Writers:          4,
		ApplyTimeout:     10 * time.Second,
		WritePause:       20 * time.Millisecond,
		MaxWrites:        1_000_000,
		FaultMinInterval: 10 * time.Second,
		FaultMaxInterval: 20 * time.Second,
		DownMin:          1 * time.Second,
		DownMax:          3 * time.Second,
		StartTimeout:     30 * time.Second,
		ConvergeTimeout:  120 * time.Second,
		MonitorInterval:  2 * time.Second,
	}
}

// Validate reports the first setting a run cannot use.
func (c *Config) Validate() error {
	switch {
	case c == nil:
		return errors.New("chaos: no config")
	case c.P4ctl == "":
		return errors.New("chaos: the p4ctl binary is not named (--p4ctl)")
	case c.Duration < time.Second || c.Duration > 24*time.Hour:
		return fmt.Errorf("chaos: duration %s: want 1s to 24h", c.Duration)
	case c.Writers < 1 || c.Writers > 64:
		return fmt.Errorf("chaos: %d writers: want 1 to 64", c.Writers)
	case c.ApplyTimeout <= 0:
		return fmt.Errorf("chaos: apply timeout %s: want more than 0", c.ApplyTimeout)
	case c.WritePause < 0:
		return fmt.Errorf("chaos: write pause %s: want 0 or more", c.WritePause)
	case c.MaxWrites < 1:
		return fmt.Errorf("chaos: max writes %d: want at least 1", c.MaxWrites)
	case c.FaultMinInterval <= 0 || c.FaultMaxInterval < c.FaultMinInterval:
		return fmt.Errorf("chaos: fault interval %s to %s: want 0 < min <= max", c.FaultMinInterval, c.FaultMaxInterval)
	case c.DownMin < 0 || c.DownMax < c.DownMin:
		return fmt.Errorf("chaos: down time %s to %s: want 0 <= min <= max", c.DownMin, c.DownMax)
	case c.DownMax >= c.FaultMinInterval:
		return fmt.Errorf("chaos: down time up to %s with faults every %s: a process must be back before the next fault", c.DownMax, c.FaultMinInterval)
	case c.StartTimeout <= 0:
		return fmt.Errorf("chaos: start timeout %s: want more than 0", c.StartTimeout)
	case c.ConvergeTimeout <= 0:
		return fmt.Errorf("chaos: converge timeout %s: want more than 0", c.ConvergeTimeout)
	case c.MonitorInterval != 0 && c.MonitorInterval < 100*time.Millisecond:
		return fmt.Errorf("chaos: monitor interval %s: want 0 (off) or at least 100ms", c.MonitorInterval)
	}
	st, err := os.Stat(c.P4ctl)
	if err != nil {
		return fmt.Errorf("chaos: p4ctl binary: %w", err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("chaos: p4ctl binary %s is not an executable file", c.P4ctl)
	}
	return nil
}
