package proc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// BecomeSubreaper makes the calling process a child subreaper: a process
// that the orphans among its descendants are reparented to, instead of
// init. A server that daemonizes (forks, calls setsid, forks again, and
// its parents exit) then stays the probe's descendant, and
// Server.Close, which kills it in any case, also reaps it: once Close
// returns, not even a zombie of it is left.
//
// It is a setting of the whole process, kept for its life, which this
// package never makes by itself: call it once, at the start of a program
// that probes servers, as drainprobe's main does. Such a program inherits
// the orphans of every child it starts, and those the probe did not start
// stay zombies until the program reaps them or exits.
//
// It works on Linux only, since 3.4; elsewhere it returns an error
// wrapping [errors.ErrUnsupported].
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("probe: become a child subreaper: %w", err)
	}
	return nil
}
