package probe

import (
	"net"
	"slices"
	"sync"
	"time"
)

// held is the set of connections the load keeps open and quiet: the idle
// connections or the silent sockets. Its watcher records when the server
// closes each of them.
type held struct {
	w *watcher // nil: closes are not watched

	mu     sync.Mutex
	conns  []net.Conn
	closed []time.Time // when each connection was seen closed; zero while open
}

func (h *held) add(nc net.Conn) {
	h.mu.Lock()
	i := len(h.conns)
	h.conns = append(h.conns, nc)
	h.closed = append(h.closed, time.Time{})
	h.mu.Unlock()
	if h.w != nil {
		h.w.watch(nc, func(at time.Time) { h.closedAt(i, at) })
	}
}

// closedAt records that connection i was seen closed at t, and closes the
// probe's end at once, as real clients do: a server that half-closes and
// waits for its peer to close (some Node libraries do) must not be held by
// a socket left in CLOSE-WAIT.
func (h *held) closedAt(i int, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed[i].IsZero() {
		h.closed[i] = t
		h.conns[i].Close()
	}
}

// len returns the number of connections held, closed or not.
func (h *held) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// open returns the number of connections not yet seen closed.
func (h *held) open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, t := range h.closed {
		if t.IsZero() {
			n++
		}
	}
	return n
}

// closeTimes returns when the connections seen closed were, in order.
func (h *held) closeTimes() []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ts []time.Time
	for _, t := range h.closed {
		if !t.IsZero() {
			ts = append(ts, t)
		}
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// closeOpen closes the connections the server has not closed. They stay
// counted open: the probe closed them, not the server.
func (h *held) closeOpen() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, nc := range h.conns {
		if h.closed[i].IsZero() {
			nc.Close()
		}
	}
}

// closeAll closes every connection held (again, for those the server
// closed first). The watcher must have stopped, so that these closes are
// not taken for the server's.
func (h *held) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, nc := range h.conns {
		nc.Close()
	}
}
