package drain

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// dropACKs makes ln's socket drop the segments that complete handshakes
// (ACK without SYN), so that connections stay in SYN_RECV.
func dropACKs(t *testing.T, ln net.Listener) {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	prog := []syscall.SockFilter{
		{Code: syscall.BPF_LD | syscall.BPF_B | syscall.BPF_ABS, K: 13},
		{Code: syscall.BPF_ALU | syscall.BPF_AND | syscall.BPF_K, K: 0x12},
		{Code: syscall.BPF_JMP | syscall.BPF_JEQ | syscall.BPF_K, K: 0x10, Jf: 1}, // ACK alone?
		{Code: syscall.BPF_RET | syscall.BPF_K, K: 0},
		{Code: syscall.BPF_RET | syscall.BPF_K, K: 0xffffffff},
	}
	var aerr error
	rc.Control(func(fd uintptr) {
		//lint:ignore SA1019 see keepOutNew
		aerr = syscall.AttachLsf(int(fd), prog)
	})
	if aerr != nil {
		t.Fatal(aerr)
	}
}

// sock_diag counts the handshakes under way on a listener: here one whose
// completing ACK the listener drops.
func TestHandshakesCounted(t *testing.T) {
	leakcheck(t)
	ln := listenTCP(t, false)
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	if n, known := handshakes(addr); !known || n != 0 {
		t.Fatalf("handshakes = %d, %v before any connection; want 0, known", n, known)
	}
	dropACKs(t, ln)
	c, err := net.Dial("tcp", ln.Addr().String()) // the client's side completes
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the handshake to be seen", func() bool { n, _ := handshakes(addr); return n == 1 })
}

// A stopping listener that keeps new connections out stays open while a
// handshake is under way, but not for ever: handshakeWait after the stop,
// or at once when the drain has nothing else to wait for. With no
// handshake under way it closes at once. Meanwhile net/http's Close leaves
// it open.
func TestSettleWaitsForHandshakes(t *testing.T) {
	leakcheck(t)
	for _, tc := range []struct {
		name                   string
		handshake, nothingElse bool
		wait                   bool // for handshakeWait
	}{
		{"no handshake", false, false, false},
		{"a handshake under way", true, false, true},
		{"a handshake, and nothing else to wait for", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenTCP(t, false)
			defer ln.Close()
			if tc.handshake {
				dropACKs(t, ln)
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				waitFor(t, "the handshake", func() bool { n, _ := handshakes(ln.Addr().(*net.TCPAddr)); return n == 1 })
			}
			l := newListener(ln, newTracker(time.Second, time.Second, false), false, make(chan struct{}))
			start := time.Now()
			l.stop(false)
			if !isClosed(l.stopped) {
				t.Error("a listener keeping new connections out is not marked stopped")
			}
			l.Close() // as net/http's Shutdown does: it waits for settle
			if l.isDone() {
				t.Fatal("the listener closed at once, before settle")
			}
			for {
				retry := l.settle(tc.nothingElse)
				if retry == 0 {
					break
				}
				time.Sleep(retry)
			}
			if !l.isDone() {
				t.Fatal("settle returned 0 and the listener is open, with nothing queued")
			}
			if took := time.Since(start); (took >= handshakeWait) != tc.wait {
				t.Errorf("closed %v after the stop; want it to wait for handshakeWait (%v): %v", took, handshakeWait, tc.wait)
			}
		})
	}
}
