//go:build !linux

package proc

import "time"

// FollowSupported reports whether [Follow] works here: it needs Linux's
// pidfds and child subreaper.
const FollowSupported = false

// IsSubreaper reports whether the probe is a child subreaper: never,
// outside Linux.
func IsSubreaper() bool { return false }

func reapExit(int, time.Duration, <-chan struct{}) Exit { return Exit{Code: -1, Unknown: true} }
