package main

import "syscall"

// childProcAttr makes the kernel kill a child when the loadtest process
// dies, so that no server outlives a crashed or killed run.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
