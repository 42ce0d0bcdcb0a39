package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is one child process the run starts, kills and restarts with the
// same arguments; its output goes to a log file, appended across
// restarts.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string
	// unexpected is called when the process exits without the run having
	// asked it to.
	unexpected func(name string, err error)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the running process has exited
	expected bool          // the run killed or stopped it
	starts   int
}

// start runs the process, with args when given (they replace the
// previous ones), else with its arguments of before. It fails when one is
// already running.
func (p *proc) start(args ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if args != nil {
		p.args = args
	}
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: already running", p.name)
		}
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== chaos: start %d of %s at %s: %s %q\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano), p.bin, p.args)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.expected = cmd, done, false
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== chaos: %s exited at %s: %v\n", p.name, time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		p.mu.Lock()
		expected := p.expected
		p.mu.Unlock()
		close(done)
		if !expected && p.unexpected != nil {
			p.unexpected(p.name, err)
		}
	}()
	return nil
}

// running reports whether the process runs now.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// startCount is how many times the process was started.
func (p *proc) startCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// exited is closed when the current process exits (nil before a start).
func (p *proc) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// kill sends SIGKILL and waits (at most 10 s) for the process to go.
func (p *proc) kill() error { return p.end(syscall.SIGKILL, 10*time.Second) }

// stop asks the process to stop (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) error {
	if err := p.end(syscall.SIGTERM, grace); err == nil {
		return nil
	}
	return p.kill()
}

func (p *proc) end(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	if p.done == nil {
		p.mu.Unlock()
		return nil
	}
	cmd, done := p.cmd, p.done
	select {
	case <-done:
		p.mu.Unlock()
		return nil
	default:
	}
	p.expected = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("%s: still running %s after %s", p.name, wait, sig)
	}
}

// freePorts returns n distinct loopback TCP ports nobody listened on a
// moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitTCP waits until addr accepts a connection, p exits, or timeout.
func waitTCP(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	exited := p.exited()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not serving on %s after %s: %w", p.name, addr, timeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before serving on %s (log: %s)", p.name, addr, p.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
