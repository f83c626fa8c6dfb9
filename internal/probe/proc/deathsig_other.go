//go:build unix && !linux

package proc

import "syscall"

func dieWithProbe(*syscall.SysProcAttr) {}
