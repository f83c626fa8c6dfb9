package main

import "syscall"

// dieWithSoak has the kernel kill the server if the soak dies, even by
// SIGKILL, so that no server outlives it.
func dieWithSoak(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
