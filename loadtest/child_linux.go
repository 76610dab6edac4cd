package main

import "syscall"

// childProcAttr makes the kernel kill a child when the loadtest process
// dies, so that no server outlives a crashed or killed run, and puts the
// child in its own process group, so that a terminal's Ctrl-C reaches only
// the parent, which then stops its children in order.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
