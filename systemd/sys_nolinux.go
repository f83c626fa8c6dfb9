//go:build unix && !linux

package systemd

import "syscall"

// abstractOK reports whether the system has abstract socket addresses.
const abstractOK = false

const sendFlags = 0

// newSocket opens a datagram Unix socket, close-on-exec; the fork lock
// keeps a child started meanwhile from inheriting it.
func newSocket() (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(fd)
	return fd, nil
}

// monotonicNow is 0 where there is no systemd to read it.
func monotonicNow() int64 { return 0 }

// pidfdMatches: only Linux has pidfds.
func pidfdMatches(id uint64) bool { return true }
