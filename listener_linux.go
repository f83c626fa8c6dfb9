//go:build linux

package drain

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"unsafe"
)

// acceptFlushWindow is how long a stopping listener whose accept queue
// cannot be seen keeps accepting before it closes. On Linux the queue can
// be seen (see pending), so the listener stops as soon as it is empty.
const acceptFlushWindow = 0

// keepOutNew makes a listening TCP socket drop every new connection
// request (a SYN without ACK) from now on, and reports whether it could:
// the handshakes already under way complete and are queued, and clients
// connecting from now on retry, to be refused once the socket is closed,
// instead of being queued and then reset by the close. It cannot for a
// Unix socket, nor for an MPTCP one (Go's default for net.Listen on Linux
// kernels with MPTCP enabled, which is why HTTP listens with plain TCP).
func keepOutNew(rc syscall.RawConn) bool {
	// A classic BPF socket filter, run on each segment for the listening
	// socket with the TCP header at offset 0: drop it (keep 0 bytes) if
	// its flags have SYN without ACK.
	prog := []syscall.SockFilter{
		{Code: syscall.BPF_LD | syscall.BPF_B | syscall.BPF_ABS, K: 13},           // A = TCP flags
		{Code: syscall.BPF_ALU | syscall.BPF_AND | syscall.BPF_K, K: 0x12},        // A &= SYN|ACK
		{Code: syscall.BPF_JMP | syscall.BPF_JEQ | syscall.BPF_K, K: 0x02, Jf: 1}, // SYN alone?
		{Code: syscall.BPF_RET | syscall.BPF_K, K: 0},                             // drop
		{Code: syscall.BPF_RET | syscall.BPF_K, K: 0xffffffff},                    // keep
	}
	var err error
	cerr := rc.Control(func(fd uintptr) {
		var domain, proto int
		if domain, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN); err != nil {
			return
		}
		if proto, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, soProtocol); err != nil {
			return
		}
		if domain != syscall.AF_INET && domain != syscall.AF_INET6 || proto != syscall.IPPROTO_TCP {
			err = syscall.EOPNOTSUPP
			return
		}
		//lint:ignore SA1019 AttachLsf is the standard library's setsockopt(SO_ATTACH_FILTER) on every Linux architecture; the core module depends on nothing outside it
		err = syscall.AttachLsf(int(fd), prog)
	})
	return cerr == nil && err == nil
}

// soProtocol is SO_PROTOCOL, which package syscall lacks.
const soProtocol = 0x26

// pending reports whether connections wait in the accept queue of the
// listening socket rc, and whether it could tell.
func pending(rc syscall.RawConn) (queued, known bool) {
	if rc == nil {
		return false, false
	}
	var n uintptr
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		pfd := struct {
			fd             int32
			events, revent int16
		}{fd: int32(fd), events: pollIn}
		var zero syscall.Timespec // do not wait
		n, _, errno = syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	})
	if err != nil || errno != 0 {
		return false, false
	}
	return n > 0, true
}

// pollIn is POLLIN: for a listening socket, a connection can be accepted.
const pollIn = 0x1

// handshakes returns the number of connections to addr's port still in
// their handshake (SYN_RECV), and whether it could tell. It asks the
// kernel through sock_diag, which lists the connection requests of every
// listening socket of the network namespace; those of the port are
// counted. The kernel walks its whole table of connections for it, which
// takes a millisecond or two on a machine with a large one: the drain asks
// while it has other things to wait for, not on its way out (see settle).
func handshakes(addr *net.TCPAddr) (n int, known bool) {
	families := []uint8{syscall.AF_INET}
	if addr.IP.To4() == nil { // IPv6, or both
		families = append(families, syscall.AF_INET6)
	}
	total := 0
	for _, family := range families {
		k, err := diagSynRecv(family, uint16(addr.Port))
		if err != nil {
			return 0, false
		}
		total += k
	}
	return total, true
}

// diagSynRecv counts the TCP sockets of family in SYN_RECV whose local
// port is port.
func diagSynRecv(family uint8, port uint16) (int, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)

	// A netlink header, then struct inet_diag_req_v2: family, protocol,
	// extensions, padding, the states wanted, and a socket id (unused in
	// a dump: every socket in the states is listed).
	const reqLen = syscall.SizeofNlMsghdr + 56
	req := make([]byte, reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], reqLen)
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_DUMP)
	body := req[syscall.SizeofNlMsghdr:]
	body[0] = family
	body[1] = syscall.IPPROTO_TCP
	ne.PutUint32(body[4:], 1<<tcpSynRecv)
	if err := syscall.Sendto(fd, req, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return 0, err
	}

	n := 0
	buf := make([]byte, 32<<10)
	for {
		got, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:got])
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return n, nil
			case syscall.NLMSG_ERROR:
				return 0, errors.New("sock_diag: error reply")
			}
			// struct inet_diag_msg: family, state, timer, retrans, then
			// the socket id, whose source port comes first, big-endian.
			if len(m.Data) >= 6 && binary.BigEndian.Uint16(m.Data[4:6]) == port {
				n++
			}
		}
	}
}

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	tcpSynRecv       = 3  // TCP_SYN_RECV
)
