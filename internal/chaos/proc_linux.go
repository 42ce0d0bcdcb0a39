package chaos

import "syscall"

// sysProcAttr makes the kernel kill a child when the run dies, so no node
// or device outlives a crashed or killed run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
