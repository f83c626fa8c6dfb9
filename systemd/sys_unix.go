//go:build unix

package systemd

import (
	"fmt"
	"os"
	"syscall"
)

// supported reports whether the protocol can be spoken here.
const supported = true

// send sends msg, with fds attached, to the manager from a socket of its
// own.
func (n *Notifier) send(msg []byte, fds []int) error {
	fd, err := newSocket()
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer syscall.Close(fd)
	// A datagram waits for room in the manager's receive queue
	// (net.unix.max_dgram_qlen datagrams), for at most maxSendWait.
	tv := syscall.NsecToTimeval(int64(maxSendWait))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	// The Go runtime sets SA_RESTART, but a blocked send can still be
	// interrupted on some systems.
	to := &syscall.SockaddrUnix{Name: n.addr}
	for {
		err = syscall.Sendmsg(fd, msg, oob, to, sendFlags)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		return fmt.Errorf("the manager's queue stayed full for %v: %w", maxSendWait, os.NewSyscallError("sendmsg", err))
	}
	if err != nil {
		return os.NewSyscallError("sendmsg", err)
	}
	return nil
}

// checkListenFD makes sure that fd is open, and marks it close-on-exec.
func checkListenFD(fd int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fd %d: %w", fd, os.NewSyscallError("fstat", err))
	}
	syscall.CloseOnExec(fd)
	return nil
}
