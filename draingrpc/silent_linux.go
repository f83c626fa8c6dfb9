package draingrpc

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// received reports whether c's peer has sent it anything, read or not:
// the kernel counts the bytes it received (TCP_INFO). A connection whose
// socket cannot be looked at counts as having received something: it is
// left alone.
func received(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	got := true
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			got = info.Bytes_received > 0
		}
	})
	return got
}
