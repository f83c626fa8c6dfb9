//go:build unix

package probe

import (
	"os/exec"
	"syscall"
)

// inGroup starts the server in a process group of its own, so that what it
// starts (a wrapper's child, a worker) can be killed with it.
func inGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	dieWithProbe(cmd.SysProcAttr)
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) {
	syscall.Kill(-pid, syscall.SIGKILL)
}
