//go:build !linux

package held

import (
	"net"
	"sync"
	"time"
)

// A Watcher learns when the server closes the connections the probe holds
// quiet. Outside Linux it reads each of them on a goroutine of its own,
// until the read fails.
type Watcher struct {
	wg sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	conns   []net.Conn
}

// NewWatcher starts a watcher. Its Stop method must be called.
func NewWatcher() (*Watcher, error) { return &Watcher{}, nil }

// Watch calls closed, once, with the time the peer closes nc (or resets
// it).
func (w *Watcher) Watch(nc net.Conn, closed func(time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.conns = append(w.conns, nc)
	nc.SetReadDeadline(time.Time{})
	w.wg.Go(func() {
		var b [512]byte
		for {
			if _, err := nc.Read(b[:]); err != nil {
				w.mu.Lock()
				stopped := w.stopped
				w.mu.Unlock()
				if !stopped {
					closed(time.Now())
				}
				return
			}
		}
	})
}

// Stop stops watching, and waits until every close seen has been
// reported. It may be called more than once.
func (w *Watcher) Stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		for _, nc := range w.conns {
			nc.SetReadDeadline(longAgo)
		}
	}
	w.mu.Unlock()
	w.wg.Wait()
}
