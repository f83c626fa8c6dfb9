package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Defaults for the fields of [Load].
const (
	DefaultBusyPath        = "/fast"
	DefaultSlowPath        = "/slow?ms=2000"
	DefaultIdlePath        = "/fast"
	DefaultDialConcurrency = 64
	DefaultRequestTimeout  = 10 * time.Second
)

// Load describes the load the probe puts on the server. Each kind of load
// is off when its count is zero.
type Load struct {
	// Busy is the number of clients that send GET BusyPath back to back
	// over keep-alive connections from the start of the load until the
	// process exits. A client told "Connection: close" (or whose
	// connection failed) reconnects; a client whose new connection is
	// refused stops.
	Busy int
	// BusyPath defaults to [DefaultBusyPath].
	BusyPath string

	// Slow is the number of GET SlowPath requests sent when the load
	// starts, each on its own connection, meant to be in flight at the
	// signal: SlowPath should take longer to answer than Warmup.
	Slow int
	// SlowPath defaults to [DefaultSlowPath].
	SlowPath string

	// Idle is the number of keep-alive connections that send one
	// GET IdlePath before the load starts, then stay open and quiet.
	Idle int
	// IdlePath defaults to [DefaultIdlePath].
	IdlePath string

	// Silent is the number of connections opened before the load starts
	// that send nothing, as browsers preconnect.
	Silent int

	// DialConcurrency bounds how many idle connections and silent sockets
	// are being opened at once. Defaults to [DefaultDialConcurrency].
	DialConcurrency int

	// RequestTimeout bounds each connect, and each request from its
	// write to the end of its response; a request that takes longer is
	// lost. Defaults to [DefaultRequestTimeout].
	RequestTimeout time.Duration
}

func (l Load) withDefaults() Load {
	if l.BusyPath == "" {
		l.BusyPath = DefaultBusyPath
	}
	if l.SlowPath == "" {
		l.SlowPath = DefaultSlowPath
	}
	if l.IdlePath == "" {
		l.IdlePath = DefaultIdlePath
	}
	if l.DialConcurrency <= 0 {
		l.DialConcurrency = DefaultDialConcurrency
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = DefaultRequestTimeout
	}
	return l
}

func (l Load) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		n    int
	}{{"Busy", l.Busy}, {"Slow", l.Slow}, {"Idle", l.Idle}, {"Silent", l.Silent}} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("negative %s %d", f.name, f.n))
		}
	}
	return errors.Join(errs...)
}

// held is the set of connections the load keeps open and quiet: the idle
// connections or the silent sockets.
type held struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (h *held) add(nc net.Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, nc)
	h.mu.Unlock()
}

func (h *held) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// closeAll closes every connection held.
func (h *held) closeAll() {
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	for _, nc := range conns {
		nc.Close()
	}
}

// A driver runs the load against one address.
type driver struct {
	addr string
	load Load
	rec  *recorder

	idle, silent held
}

// openIdle opens the idle connections, each with one request answered, at
// most DialConcurrency at a time. It returns when all have been tried.
func (d *driver) openIdle(ctx context.Context) {
	d.each(ctx, d.load.Idle, Idle, func(t *tally, i int) {
		c := newClient(d.addr, d.load.RequestTimeout)
		x := c.get(ctx, d.load.IdlePath)
		t.add(i, x, ctx.Err() != nil)
		if c.connected() {
			d.idle.add(c.nc) // answered and kept alive
		}
	})
}

// openSilent opens the silent sockets, at most DialConcurrency at a time.
func (d *driver) openSilent(ctx context.Context) {
	dialer := net.Dialer{Timeout: d.load.RequestTimeout}
	d.each(ctx, d.load.Silent, Silent, func(t *tally, i int) {
		x := exchange{sent: time.Now()}
		nc, err := dialer.DialContext(ctx, "tcp", d.addr)
		if err != nil {
			x.done, x.st, x.err = time.Now(), stepConnect, err
			t.add(i, x, ctx.Err() != nil)
			return
		}
		d.silent.add(nc)
	})
}

// each calls fn(i) for i in [0, n), on at most DialConcurrency goroutines,
// and returns when all calls have.
func (d *driver) each(ctx context.Context, n int, k Kind, fn func(t *tally, i int)) {
	workers := min(n, d.load.DialConcurrency)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			t := d.rec.tally(k)
			defer t.merge()
			for i := range next {
				fn(t, i)
			}
		})
	}
	defer wg.Wait()
	defer close(next)
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			return
		}
	}
}

// busy is the loop of busy client i: requests back to back until a new
// connection is refused or ctx ends.
func (d *driver) busy(ctx context.Context, i int) {
	t := d.rec.tally(Busy)
	defer t.merge()
	c := newClient(d.addr, d.load.RequestTimeout)
	defer c.close()
	for ctx.Err() == nil {
		x := c.get(ctx, d.load.BusyPath)
		rec := t.add(i, x, ctx.Err() != nil)
		if rec.Outcome == Refused {
			return
		}
	}
}

// slow sends slow request i on a connection of its own.
func (d *driver) slow(ctx context.Context, i int) {
	t := d.rec.tally(Slow)
	defer t.merge()
	c := newClient(d.addr, d.load.RequestTimeout)
	defer c.close()
	t.add(i, c.get(ctx, d.load.SlowPath), ctx.Err() != nil)
}
