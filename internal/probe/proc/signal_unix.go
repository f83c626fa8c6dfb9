//go:build unix

package proc

import (
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalNamed returns the signal of a name such as "SIGTERM".
func signalNamed(name string) (syscall.Signal, bool) {
	s := unix.SignalNum(name)
	return s, s != 0
}

// signalNumbered returns signal n if the platform has it: a named one, or
// on Linux a real-time signal (up to 64).
func signalNumbered(n int) (syscall.Signal, bool) {
	s := syscall.Signal(n)
	return s, n > 0 && (unix.SignalName(s) != "" || runtime.GOOS == "linux" && n <= 64)
}

// signalNameOf returns the name of s, or "" if it has none.
func signalNameOf(s syscall.Signal) string { return unix.SignalName(s) }
