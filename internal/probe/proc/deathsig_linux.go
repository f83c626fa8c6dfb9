package proc

import "syscall"

// dieWithProbe has the kernel kill the server if the probe dies, even by
// SIGKILL, so that no server outlives it.
func dieWithProbe(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
