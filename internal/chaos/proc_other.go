//go:build !linux

package chaos

import "syscall"

// sysProcAttr has nothing to add where the kernel cannot kill a child
// with its parent.
func sysProcAttr() *syscall.SysProcAttr { return nil }
