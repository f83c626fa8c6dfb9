//go:build !linux

package probe

import "time"

// upgradesSupported reports whether upgrade runs work here: they need
// Linux's pidfds and child subreaper.
const upgradesSupported = false

func isSubreaper() bool { return false }

func reapExit(int, time.Duration, <-chan struct{}) Exit { return Exit{Code: -1, Unknown: true} }
