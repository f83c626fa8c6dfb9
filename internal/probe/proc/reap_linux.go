package proc

import (
	"errors"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FollowSupported reports whether upgrade runs work here: they need
// pidfds and a child subreaper.
const FollowSupported = true

// IsSubreaper reports whether the probe is a child subreaper
// ([BecomeSubreaper]).
func IsSubreaper() bool {
	var v int32
	// PR_GET_CHILD_SUBREAPER stores an int at the address given.
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0)
	return err == nil && v != 0
}

// reapExit returns how process pid, which has exited, ended: it reaps it
// once it is the probe's child. A process whose parent lives on stays
// that parent's zombie, so reapExit waits for the parent's exit (which
// makes the probe, a subreaper, the process's parent), up to limit or
// until stop is closed. If it cannot reap it (another process did, or the
// probe is no subreaper and init took it), the exit is Unknown. At is
// not set.
func reapExit(pid int, limit time.Duration, stop <-chan struct{}) Exit {
	unknown := Exit{Code: -1, Unknown: true}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	self := os.Getpid()
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err == nil && got == pid:
			e := Exit{Code: ws.ExitStatus()}
			if ws.Signaled() {
				e.Code, e.Signal = -1, ws.Signal()
			}
			return e
		case err != nil && !errors.Is(err, unix.ECHILD):
			return unknown
		}
		// Not the probe's child yet (or its exit not yet visible to
		// wait4): whose is it?
		st, ok := readStat(strconv.Itoa(pid))
		if !ok || st.ppid == 1 {
			return unknown // reaped by another, or init's
		}
		if st.ppid == self { // reparented this instant: try again
			select {
			case <-time.After(time.Millisecond):
				continue
			case <-deadline.C:
				return unknown
			case <-stop:
				return unknown
			}
		}
		// Its parent's exit reparents it to the probe.
		parent, err := Watch(st.ppid)
		if err != nil {
			continue // gone meanwhile: look again
		}
		select {
		case <-parent.Done():
		case <-deadline.C:
			parent.Close()
			return unknown
		case <-stop:
			parent.Close()
			return unknown
		}
		parent.Close()
	}
}
