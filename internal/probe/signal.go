package probe

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// signals are the signals a probe may send, by name without "SIG".
// The ones every platform names are here; signal_unix.go adds the rest.
var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
	"HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL,
}

// ParseSignal returns the signal named name: "SIGTERM" or "TERM", in any
// case. It knows SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 and
// SIGKILL.
func ParseSignal(name string) (os.Signal, error) {
	if s, ok := signals[strings.TrimPrefix(strings.ToUpper(name), "SIG")]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("unknown signal %q (want SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGKILL)", name)
}

// SignalName names sig as people know it: "SIGTERM" rather than Go's
// "terminated".
func SignalName(sig os.Signal) string {
	if sig == nil {
		return ""
	}
	for name, s := range signals {
		if s == sig {
			return "SIG" + name
		}
	}
	return sig.String()
}
