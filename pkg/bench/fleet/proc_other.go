//go:build !linux

package fleet

import "syscall"

// sysProcAttr has nothing to add where the kernel cannot kill a child
// with its parent. (The figures read /proc, so elsewhere they are zero.)
func sysProcAttr() *syscall.SysProcAttr { return nil }
