package held

import (
	"net"
	"testing"
	"time"
)

// TestWatcherSeesServerCloses holds connections to a server that closes
// some of them (one with a reset), and checks that the watcher reports
// exactly those, once each.
func TestWatcherSeesServerCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	const n = 6
	type report struct {
		i  int
		at time.Time
	}
	reports := make(chan report, 2*n)
	var server []net.Conn
	for i := range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		w.Watch(nc, func(at time.Time) { reports <- report{i, at} })
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		server = append(server, sc)
	}
	closed := map[int]bool{0: true, 3: true, 4: true}
	before := time.Now()
	server[3].(*net.TCPConn).SetLinger(0) // a reset
	for i := range closed {
		server[i].Close()
	}
	seen := map[int]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < len(closed) {
		select {
		case r := <-reports:
			if !closed[r.i] || seen[r.i] || r.at.Before(before) {
				t.Errorf("connection %d reported closed at %v (closing at %v, seen before: %v)", r.i, r.at, before, seen[r.i])
			}
			seen[r.i] = true
		case <-timeout:
			t.Fatalf("reported %v, want %v", seen, closed)
		}
	}
	w.Stop()
	close(reports)
	for r := range reports {
		t.Errorf("connection %d reported too", r.i)
	}
}

// TestConns checks the bookkeeping of held connections.
func TestConns(t *testing.T) {
	var h Conns // no watcher
	a, b := net.Pipe()
	defer b.Close()
	h.Add(a)
	h.Add(b)
	t0 := time.Now()
	h.closedAt(1, t0.Add(2*time.Millisecond))
	h.closedAt(0, t0)
	h.closedAt(1, t0.Add(time.Hour)) // once only
	if h.Len() != 2 || h.Open() != 0 {
		t.Errorf("len %d, open %d; want 2, 0", h.Len(), h.Open())
	}
	ts := h.CloseTimes()
	if len(ts) != 2 || !ts[0].Equal(t0) || !ts[1].Equal(t0.Add(2*time.Millisecond)) {
		t.Errorf("close times %v", ts)
	}
	h.CloseAll()
	h.CloseAll()
}
