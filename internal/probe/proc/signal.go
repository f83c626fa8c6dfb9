package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ParseSignal returns the signal named name: by its name, with or without
// "SIG", in any case ("SIGTERM", "term", "SIGWINCH"), or by its number
// ("15"). On Unix it knows every signal of the platform, the real-time
// ones by number; elsewhere SIGTERM, SIGINT, SIGQUIT, SIGHUP and SIGKILL.
func ParseSignal(name string) (os.Signal, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if s, ok := signalNumbered(n); ok {
			return s, nil
		}
		return nil, fmt.Errorf("no signal numbered %d on this platform", n)
	}
	if s, ok := signalNamed("SIG" + strings.TrimPrefix(strings.ToUpper(name), "SIG")); ok {
		return s, nil
	}
	return nil, fmt.Errorf("unknown signal %q (want a name such as SIGTERM, SIGINT, SIGQUIT or SIGUSR1, or a number)", name)
}

// SignalName names sig as people know it: "SIGTERM" rather than Go's
// "terminated"; a signal without a name by its number, "signal 40".
func SignalName(sig os.Signal) string {
	if sig == nil {
		return ""
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return sig.String()
	}
	if name := signalNameOf(s); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(s))
}
