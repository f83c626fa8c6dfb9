//go:build !unix

package proc

import "syscall"

// signals are the signals a probe may send where there is no Unix.
var signals = map[string]syscall.Signal{
	"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGQUIT": syscall.SIGQUIT,
	"SIGHUP": syscall.SIGHUP, "SIGKILL": syscall.SIGKILL,
}

func signalNamed(name string) (syscall.Signal, bool) {
	s, ok := signals[name]
	return s, ok
}

func signalNumbered(n int) (syscall.Signal, bool) {
	for _, s := range signals {
		if int(s) == n {
			return s, true
		}
	}
	return 0, false
}

func signalNameOf(s syscall.Signal) string {
	for name, t := range signals {
		if t == s {
			return name
		}
	}
	return ""
}
