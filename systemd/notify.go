package systemd

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// maxMessage is the longest notification the service manager reads: it
// receives into a buffer of PIPE_BUF (4096) bytes and drops a datagram
// that does not fit.
const maxMessage = 4096

// maxFiles is the kernel's limit on the descriptors one message carries
// (SCM_MAX_FD).
const maxFiles = 253

// maxSendWait bounds how long a notification waits for room in the
// manager's receive queue.
const maxSendWait = 2 * time.Second

// A Notifier sends notifications to the service manager (sd_notify(3)
// protocol) over the datagram socket in $NOTIFY_SOCKET. A nil *Notifier
// does nothing: every method returns nil.
//
// A Notifier holds no open descriptor: each notification is sent from a
// socket of its own, opened and closed by the call (about 20µs with the
// receiver's read, by BenchmarkNotify: go test -bench Notify). A kept
// socket would save little on messages sent a few times a minute, and
// would be one more descriptor to keep from children across fork and exec
// and for the caller to close. Notifications sent one after another by one goroutine arrive in
// the order they were sent. A Notifier may be used by several goroutines at
// once.
type Notifier struct {
	addr string // $NOTIFY_SOCKET, checked by NewNotifier
}

// NewNotifier returns a Notifier for $NOTIFY_SOCKET, or nil and no error
// if the variable is not set (the process is not run by systemd with
// Type=notify or Type=notify-reload). An address that is neither an
// absolute path nor an abstract socket ("@name", Linux only) is an error,
// and so is an AF_VSOCK address ("vsock:CID:PORT", which systemd gives to
// services in virtual machines); that error wraps [errors.ErrUnsupported].
// On systems other than Unix NewNotifier returns nil and no error.
//
// NewNotifier leaves $NOTIFY_SOCKET set: a process that the service starts
// (a new binary taking over, see MAINPID=) may notify the manager too, if
// the unit allows it (NotifyAccess=all).
func NewNotifier() (*Notifier, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" || !supported {
		return nil, nil
	}
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	return &Notifier{addr: addr}, nil
}

// checkAddr reports whether addr is a Unix socket address that a
// Notifier can send to.
func checkAddr(addr string) error {
	switch {
	case strings.HasPrefix(addr, "vsock:") || strings.HasPrefix(addr, "vsock-"):
		return fmt.Errorf("systemd: NOTIFY_SOCKET=%q: AF_VSOCK addresses: %w", addr, errors.ErrUnsupported)
	case addr[0] == '/':
		// sun_path holds 108 bytes on Linux, the terminating NUL included.
		if len(addr) >= 108 {
			return fmt.Errorf("systemd: NOTIFY_SOCKET=%q: path longer than 107 bytes", addr)
		}
	case addr[0] == '@':
		if !abstractOK {
			return fmt.Errorf("systemd: NOTIFY_SOCKET=%q: abstract sockets exist only on Linux: %w", addr, errors.ErrUnsupported)
		}
		// The '@' becomes the leading NUL byte of sun_path.
		if len(addr) < 2 || len(addr) > 108 {
			return fmt.Errorf("systemd: NOTIFY_SOCKET=%q: an abstract name has 1 to 107 bytes", addr)
		}
	default:
		return fmt.Errorf("systemd: NOTIFY_SOCKET=%q is neither an absolute path nor an abstract socket (@name)", addr)
	}
	return nil
}

// Notify sends one notification with the given assignments, each
// "NAME=value": "READY=1", "STATUS=draining 3 requests", "MAINPID=1234",
// "EXTEND_TIMEOUT_USEC=5000000", "WATCHDOG=1", "STOPPING=1",
// "RELOADING=1" (with [Monotonic]), and the others systemd.service(5) and
// sd_notify(3) list. An assignment without '=', with an empty name, or
// containing a newline or a NUL byte is an error, and so is a
// notification longer than 4096 bytes, which the manager would drop:
// nothing is sent then.
//
// Notify returns once the kernel has queued the datagram for the manager;
// to know that the manager has processed it, follow it with
// [Notifier.Barrier]. While the manager's receive queue is full
// (net.unix.max_dgram_qlen datagrams, 512 under systemd) Notify waits for
// room, 2 seconds at most, and then returns an error wrapping
// syscall.EAGAIN; sd_notify(3) would wait without end.
func (n *Notifier) Notify(state ...string) error {
	return n.NotifyFiles(nil, state...)
}

// NotifyFiles sends the notification with files attached (SCM_RIGHTS), as
// the file descriptor store expects them:
//
//	n.NotifyFiles([]*os.File{f}, "FDSTORE=1", "FDNAME=web")
//
// The manager receives duplicates of the descriptors; the files stay open
// in this process and the caller still closes them. At most 253 files go
// in one notification. The assignments are checked as by
// [Notifier.Notify].
func (n *Notifier) NotifyFiles(files []*os.File, state ...string) error {
	if n == nil {
		return nil
	}
	msg, err := message(state)
	if err != nil {
		return err
	}
	if len(files) > maxFiles {
		return fmt.Errorf("systemd: %d files in one notification, more than %d", len(files), maxFiles)
	}
	for i, f := range files {
		if f == nil {
			return fmt.Errorf("systemd: file %d of the notification is nil", i)
		}
	}
	err = withFds(files, make([]int, 0, len(files)), func(fds []int) error {
		return n.send(msg, fds)
	})
	if err != nil {
		return fmt.Errorf("systemd: notify %s: %w", n.addr, err)
	}
	return nil
}

// message joins the assignments into a notification, one a line.
func message(state []string) ([]byte, error) {
	if len(state) == 0 {
		return nil, errors.New("systemd: a notification needs at least one assignment")
	}
	size := len(state) - 1
	for _, s := range state {
		name, _, ok := strings.Cut(s, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("systemd: notification %q is not an assignment NAME=value", s)
		case name == "":
			return nil, fmt.Errorf("systemd: notification %q has no name", s)
		case strings.ContainsAny(s, "\n\x00"):
			return nil, fmt.Errorf("systemd: notification %q contains a newline or a NUL byte", s)
		}
		size += len(s)
	}
	if size > maxMessage {
		return nil, fmt.Errorf("systemd: notification of %d bytes, longer than the %d the manager reads", size, maxMessage)
	}
	return []byte(strings.Join(state, "\n")), nil
}

// withFds calls send with the descriptors of files, each held open (by
// its SyscallConn's Control) until send returns. Unlike os.File.Fd, it
// leaves the files in non-blocking mode.
func withFds(files []*os.File, fds []int, send func([]int) error) error {
	if len(files) == 0 {
		return send(fds)
	}
	rc, err := files[0].SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = withFds(files[1:], append(fds, int(fd)), send)
	}); err != nil {
		return fmt.Errorf("%s: %w", files[0].Name(), err)
	}
	return serr
}
