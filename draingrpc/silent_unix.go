//go:build unix

package draingrpc

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

var errNoSyscallConn = errors.New("draingrpc: the connection hides its socket")

// pending reports whether c has bytes waiting to be read, or has been
// closed by its peer (then there is nothing to wait for either, but a
// read would say so: it is left to grpc-go). Without a socket to look
// at, it reports true: the connection is left alone.
func pending(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	waiting := true
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		waiting = n > 0 || err == nil || !errors.Is(err, unix.EAGAIN)
	})
	return waiting
}
