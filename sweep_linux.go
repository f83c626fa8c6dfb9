//go:build linux

package drain

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// acceptFlushWindow is how long a stopping listener keeps accepting before
// it sweeps its queue and closes. On Linux the sweep takes everything
// queued, so the listener stops at once.
const acceptFlushWindow = 0

// sweepClose closes ln without resetting the connections waiting in its
// accept queue: it accepts them all, without blocking, closes ln right
// after, and returns them. Only a handshake that completes in the few
// microseconds between the last accept and the close is reset, as it would
// be by any close; new connections after that are refused.
func sweepClose(ln net.Listener) []net.Conn {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		ln.Close()
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		ln.Close()
		return nil
	}
	var fds []int
	rc.Control(func(fd uintptr) {
		for {
			nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			switch {
			case err == nil:
				fds = append(fds, nfd)
			case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.ECONNABORTED):
			default:
				return // EAGAIN: the queue is empty
			}
		}
	})
	ln.Close()

	conns := make([]net.Conn, 0, len(fds))
	for _, fd := range fds {
		f := os.NewFile(uintptr(fd), "")
		c, err := net.FileConn(f) // dups the descriptor
		f.Close()
		if err == nil {
			conns = append(conns, c)
		}
	}
	return conns
}
