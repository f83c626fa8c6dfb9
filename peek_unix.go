//go:build unix

package drain

import "syscall"

// hasPendingBytes reports whether bytes from the client wait in the
// kernel under sc, not yet read by the server: the client has begun to send a
// request, so the connection must not be closed as idle.
func hasPendingBytes(sc syscall.Conn) bool {
	if sc == nil {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	return err == nil && n > 0
}
