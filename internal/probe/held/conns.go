package held

import (
	"net"
	"slices"
	"sync"
	"time"
)

// Conns is a set of connections held open and quiet: the idle connections
// or the silent sockets. Its watcher records when the server closes each
// of them. The zero value watches nothing: it only counts.
type Conns struct {
	w *Watcher // nil: closes are not watched

	mu     sync.Mutex
	conns  []net.Conn
	closed []time.Time // when each connection was seen closed; zero while open
}

// NewConns returns an empty set whose connections w watches.
func NewConns(w *Watcher) *Conns { return &Conns{w: w} }

// Add holds nc: if the set has a watcher, nc counts as closed from the
// moment the server closes it.
func (h *Conns) Add(nc net.Conn) {
	h.mu.Lock()
	i := len(h.conns)
	h.conns = append(h.conns, nc)
	h.closed = append(h.closed, time.Time{})
	h.mu.Unlock()
	if h.w != nil {
		h.w.Watch(nc, func(at time.Time) { h.closedAt(i, at) })
	}
}

// closedAt records that connection i was seen closed at t, and closes the
// probe's end at once, as real clients do: a server that half-closes and
// waits for its peer to close (some Node libraries do) must not be held by
// a socket left in CLOSE-WAIT.
func (h *Conns) closedAt(i int, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed[i].IsZero() {
		h.closed[i] = t
		h.conns[i].Close()
	}
}

// Len returns the number of connections held, closed or not.
func (h *Conns) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Open returns the number of connections not yet seen closed.
func (h *Conns) Open() int {
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

// CloseTimes returns when the connections seen closed were, in order.
func (h *Conns) CloseTimes() []time.Time {
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

// CloseOpen closes the connections the server has not closed. They stay
// counted open: the probe closed them, not the server.
func (h *Conns) CloseOpen() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, nc := range h.conns {
		if h.closed[i].IsZero() {
			nc.Close()
		}
	}
}

// CloseAll closes every connection held (again, for those the server
// closed first). The watcher must have stopped, so that these closes are
// not taken for the server's.
func (h *Conns) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, nc := range h.conns {
		nc.Close()
	}
}

// longAgo is a deadline in the past: setting it makes blocked reads
// return at once.
var longAgo = time.Unix(1, 0)
