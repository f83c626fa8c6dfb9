//go:build unix && !linux

package main

import "syscall"

// dieWithSoak does nothing outside Linux: a server outlives a soak killed
// by SIGKILL there.
func dieWithSoak(*syscall.SysProcAttr) {}
