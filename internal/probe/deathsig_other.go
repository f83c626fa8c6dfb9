//go:build unix && !linux

package probe

import "syscall"

func dieWithProbe(*syscall.SysProcAttr) {}
