package fleet

import "syscall"

// sysProcAttr makes the kernel kill a child when the benchmark dies, so
// no simulator or node outlives it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
