package proc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Watched process is one the probe did not start (probe's Config.PID). Its
// exit is learnt from a pidfd: the descriptor becomes readable when the
// process exits, and it is in the runtime's netpoller, so a goroutine
// waits for that event without polling. How the process ended is unknown:
// only its parent can learn it. Signals go through the pidfd too, so they
// cannot reach another process that reused the pid.
type Watched struct {
	pid int
	f   *os.File // the pidfd
	rc  syscall.RawConn

	end       ending        // done once the process has exited
	stopped   chan struct{} // closed when wait has returned
	closeOnce sync.Once
}

// Watch starts watching process pid. Its Close method must be called.
func Watch(pid int) (*Watched, error) {
	fd, err := unix.PidfdOpen(pid, 0) // not PIDFD_NONBLOCK, which needs Linux 5.10
	if err == unix.ESRCH {
		return nil, fmt.Errorf("%w: no process %d", ErrExited, pid)
	}
	if err != nil {
		return nil, fmt.Errorf("probe: watch process %d: %w", pid, os.NewSyscallError("pidfd_open", err))
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("probe: watch process %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd %d", pid))
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{}) // fails unless f is in the netpoller
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("probe: watch process %d: %w", pid, err)
	}
	w := &Watched{
		pid: pid, f: f, rc: rc,
		end:     newEnding(),
		stopped: make(chan struct{}),
	}
	go w.wait() // owned: Close waits for stopped
	return w, nil
}

// wait waits until the pidfd is readable, that is until the process has
// exited, or until Close.
func (w *Watched) wait() {
	defer close(w.stopped)
	err := w.rc.Read(func(fd uintptr) bool { return readable(int(fd)) })
	if err != nil {
		return // closed
	}
	w.end.exited(Exit{At: time.Now(), Code: -1, Unknown: true})
}

// readable reports whether fd is readable now.
func readable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// PID returns the process id.
func (w *Watched) PID() int { return w.pid }

// Signal sends sig to the process. It returns an error wrapping
// [ErrExited] if the process has exited.
func (w *Watched) Signal(sig os.Signal) error {
	select {
	case <-w.Done():
		return fmt.Errorf("%w before the signal: process %d", ErrExited, w.pid)
	default:
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("probe: send %v to process %d: not a syscall.Signal", sig, w.pid)
	}
	var serr error
	err := w.rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), s, nil, 0) })
	switch {
	case err != nil:
		return fmt.Errorf("probe: send %v to process %d: %w", sig, w.pid, err)
	case serr == unix.ESRCH:
		return fmt.Errorf("%w before the signal: process %d", ErrExited, w.pid)
	case serr != nil:
		return fmt.Errorf("probe: send %v to process %d: %w", sig, w.pid, os.NewSyscallError("pidfd_send_signal", serr))
	}
	return nil
}

// Kill sends SIGKILL to the process unless it has exited. [Exit.Killed]
// then reports it.
func (w *Watched) Kill() error {
	return w.end.kill(func() error {
		if err := w.Signal(syscall.SIGKILL); !errors.Is(err, ErrExited) {
			return err
		}
		return nil
	})
}

// Done returns a channel that is closed once the process has exited.
func (w *Watched) Done() <-chan struct{} { return w.end.done }

// Exit describes how the process ended, as far as the probe knows. It may
// be called only after Done is closed.
func (w *Watched) Exit() Exit { return w.end.exit() }

// Close stops watching the process; it does not kill it. It may be called
// more than once, and returns nil.
func (w *Watched) Close() error {
	w.closeOnce.Do(func() {
		w.f.SetReadDeadline(longAgo)
		<-w.stopped
		w.f.Close()
	})
	return nil
}
