package systemd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A receiver is a test service manager: a datagram socket set as
// $NOTIFY_SOCKET that receives notifications with their credentials and
// descriptors, as systemd does.
type receiver struct {
	t    testing.TB
	addr string
	conn *net.UnixConn
}

// listenNotify starts a receiver on a socket file in a temporary
// directory, or on an abstract socket, and sets $NOTIFY_SOCKET to it.
func listenNotify(t testing.TB, abstract bool) *receiver {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "notify")
	if abstract {
		addr = fmt.Sprintf("@drain-systemd-test/%d/%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The manager asks for the sender's credentials; so does the receiver.
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	t.Setenv("NOTIFY_SOCKET", addr)
	return &receiver{t: t, addr: addr, conn: conn}
}

// A notification is one message as the receiver got it.
type notification struct {
	text  string
	pid   int32
	files []*os.File // closed by the test's cleanup
}

// recv receives the next notification, failing the test if none comes
// within 30 seconds.
func (r *receiver) recv() notification {
	r.t.Helper()
	buf := make([]byte, maxMessage+1)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred)+syscall.CmsgSpace(4*maxFiles))
	r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, oobn, flags, _, err := r.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		r.t.Fatalf("receiving a notification: %v", err)
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		r.t.Fatalf("notification truncated (flags %#x)", flags)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		r.t.Fatal(err)
	}
	got := notification{text: string(buf[:n])}
	for _, m := range msgs {
		if cred, err := syscall.ParseUnixCredentials(&m); err == nil {
			got.pid = cred.Pid
			continue
		}
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, fd := range fds {
			f := os.NewFile(uintptr(fd), fmt.Sprintf("received fd %d", fd))
			r.t.Cleanup(func() { f.Close() })
			got.files = append(got.files, f)
		}
	}
	return got
}

// expectNothing fails the test if a notification is waiting. A datagram
// is queued by the time sendmsg returns, so a notification sent before is
// seen.
func (r *receiver) expectNothing() {
	r.t.Helper()
	rc, err := r.conn.SyscallConn()
	if err != nil {
		r.t.Fatal(err)
	}
	buf := make([]byte, maxMessage+1)
	var n int
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		r.t.Fatal(err)
	}
	if rerr == nil {
		r.t.Fatalf("unexpected notification %q", buf[:n])
	}
	if rerr != syscall.EAGAIN {
		r.t.Fatal(rerr)
	}
}
