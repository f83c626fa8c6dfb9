package held

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// A Watcher learns when the server closes the connections the probe holds
// quiet, with one goroutine for all of them: their sockets are in an epoll
// set of the watcher's own, waiting for the peer's FIN or a reset
// (EPOLLRDHUP, EPOLLHUP, EPOLLERR), and that epoll descriptor is itself in
// the runtime's netpoller, so that the goroutine wakes only when a
// connection closes. Each socket is reported once (EPOLLONESHOT).
type Watcher struct {
	epfd int
	f    *os.File // epfd, in the netpoller
	rc   syscall.RawConn
	done chan struct{} // closed when loop has returned
	once sync.Once

	mu      sync.Mutex
	stopped bool
	fns     []func(time.Time) // by slot, the slot being the event's data
}

// NewWatcher starts a watcher. Its Stop method must be called.
func NewWatcher() (*Watcher, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("probe: watch connections: %w", os.NewSyscallError("epoll_create1", err))
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("probe: watch connections: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	// Only a file in the netpoller takes a deadline: this checks that the
	// epoll descriptor is in it, as loop needs.
	rc, err := f.SyscallConn()
	if err == nil {
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("probe: watch connections: %w", err)
	}
	w := &Watcher{epfd: epfd, f: f, rc: rc, done: make(chan struct{})}
	go w.loop() // owned: Stop waits for done
	return w, nil
}

// Watch calls closed, once, with the time the peer closes nc (or resets
// it). A connection that cannot be watched is never reported closed.
func (w *Watcher) Watch(nc net.Conn, closed func(time.Time)) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	slot := len(w.fns)
	w.fns = append(w.fns, closed)
	raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(slot)}
		if syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) != nil {
			w.fns[slot] = nil
		}
	})
}

// loop reports the connections that close until Stop sets a deadline in
// the past, then reports those that closed in the meantime.
func (w *Watcher) loop() {
	defer close(w.done)
	var evs [128]syscall.EpollEvent
	w.rc.Read(func(fd uintptr) bool {
		w.drain(int(fd), evs[:])
		return false // wait for the next event
	})
	w.drain(w.epfd, evs[:])
}

// drain reports the events ready, without blocking.
func (w *Watcher) drain(epfd int, evs []syscall.EpollEvent) {
	for {
		n, err := syscall.EpollWait(epfd, evs, 0)
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 {
			return
		}
		now := time.Now()
		fns := make([]func(time.Time), 0, n)
		w.mu.Lock()
		for _, ev := range evs[:n] {
			if i := int(ev.Fd); i >= 0 && i < len(w.fns) && w.fns[i] != nil {
				fns = append(fns, w.fns[i])
				w.fns[i] = nil
			}
		}
		w.mu.Unlock()
		for _, fn := range fns {
			fn(now)
		}
	}
}

// Stop stops watching, and waits until every close seen has been
// reported. It may be called more than once.
func (w *Watcher) Stop() {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
		w.f.SetReadDeadline(longAgo)
		<-w.done
		w.f.Close()
	})
}
