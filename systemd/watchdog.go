package systemd

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// WatchdogInterval returns the interval within which systemd expects
// WATCHDOG=1 ($WATCHDOG_USEC, set for WatchdogSec=), or 0 and no error if
// the watchdog is off: the variable is not set, or $WATCHDOG_PID is set
// and names another process (the variables were inherited). Callers ping
// at half the interval. A value that is not a positive number of
// microseconds, or a $WATCHDOG_PID that is not a process ID, is an error,
// as in sd_watchdog_enabled(3). The variables are left set.
func WatchdogInterval() (time.Duration, error) {
	s, ok := os.LookupEnv("WATCHDOG_USEC")
	if !ok {
		return 0, nil
	}
	usec, err := strconv.ParseUint(s, 10, 64)
	if err != nil || usec == 0 || usec > math.MaxInt64/uint64(time.Microsecond) {
		return 0, fmt.Errorf("systemd: WATCHDOG_USEC=%q is not a positive number of microseconds", s)
	}
	if p, ok := os.LookupEnv("WATCHDOG_PID"); ok {
		pid, err := parsePID("WATCHDOG_PID", p)
		if err != nil {
			return 0, err
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// parsePID parses the value s of the variable name as a process ID.
func parsePID(name, s string) (int, error) {
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("systemd: %s=%q is not a process ID", name, s)
	}
	return pid, nil
}
