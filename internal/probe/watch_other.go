//go:build !linux

package probe

import (
	"net"
	"sync"
	"time"
)

// A watcher learns when the server closes the connections the probe holds
// quiet. Outside Linux it reads each of them on a goroutine of its own,
// until the read fails.
type watcher struct {
	wg sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	conns   []net.Conn
}

// newWatcher starts a watcher. Its stop method must be called.
func newWatcher() (*watcher, error) { return &watcher{}, nil }

// watch calls closed, once, with the time the peer closes nc (or resets
// it).
func (w *watcher) watch(nc net.Conn, closed func(time.Time)) {
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

// stop stops watching, and waits until every close seen has been
// reported. It may be called more than once.
func (w *watcher) stop() {
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
