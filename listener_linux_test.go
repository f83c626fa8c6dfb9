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
	port := ln.Addr().(*net.TCPAddr).Port
	if n, known := handshakes(port); !known || n != 0 {
		t.Fatalf("handshakes = %d, %v before any connection; want 0, known", n, known)
	}
	dropACKs(t, ln)
	c, err := net.Dial("tcp", ln.Addr().String()) // the client's side completes
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the handshake to be seen", func() bool { n, _ := handshakes(port); return n == 1 })
}

// A stopping listener waits for a handshake under way, but not for ever:
// it closes handshakeWait after the stop, whatever the drain is waiting for
// otherwise.
func TestSettleBoundsHandshakeWait(t *testing.T) {
	leakcheck(t)
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dropACKs(t, ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	waitFor(t, "the handshake", func() bool { n, _ := handshakes(port); return n == 1 })

	l := newListener(ln, newTracker(time.Second, time.Second, false), false, make(chan struct{}))
	start := time.Now()
	l.stop()
	if l.isDone() {
		t.Fatal("the listener closed with a handshake under way")
	}
	if !isClosed(l.stopped) {
		t.Error("a listener keeping new connections out is not marked stopped")
	}
	for {
		retry := l.settle()
		if retry == 0 {
			break
		}
		time.Sleep(retry)
	}
	if !l.isDone() {
		t.Fatal("settle returned 0 and the listener is open, with nothing queued")
	}
	if took := time.Since(start); took < handshakeWait {
		t.Errorf("closed %v after the stop, before handshakeWait (%v), with the handshake under way", took, handshakeWait)
	}
}
