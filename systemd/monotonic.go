package systemd

import "strconv"

// Monotonic returns the assignment "MONOTONIC_USEC=<now on
// CLOCK_MONOTONIC, in microseconds>" that must accompany RELOADING=1
// (Type=notify-reload, systemd 253), from which the manager tells a
// reload it asked for from one the service began on its own:
//
//	n.Notify("RELOADING=1", systemd.Monotonic(), "STATUS=upgrading")
//
// Outside Linux, where no systemd reads it, the value is 0.
func Monotonic() string {
	return "MONOTONIC_USEC=" + strconv.FormatInt(monotonicNow()/1000, 10)
}
