//go:build !linux

package main

import "syscall"

// childProcAttr is nil where there is no parent-death signal; children still
// exit when their stdin closes.
func childProcAttr() *syscall.SysProcAttr { return nil }
