package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drain-go/drain/internal/probe/held"
	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// Defaults for the fields of [Load].
const (
	DefaultBusyPath        = "/fast"
	DefaultSlowPath        = "/slow?ms=2000"
	DefaultIdlePath        = "/fast"
	DefaultWebSocketPath   = "/ws"
	DefaultSSEPath         = "/events"
	DefaultMethod          = http.MethodGet
	DefaultDialConcurrency = 64
	DefaultRequestTimeout  = 10 * time.Second
)

// Load describes the load the probe puts on the server. The report keeps
// it as run, defaults filled in: see [report.Load] for its fields.
type Load = report.Load

// DefaultStreams is the default of [Load.Streams].
const DefaultStreams = 8

// withDefaults returns l with its zero fields set to their defaults.
func withDefaults(l Load) Load {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&l.BusyPath, DefaultBusyPath)
	def(&l.SlowPath, DefaultSlowPath)
	def(&l.IdlePath, DefaultIdlePath)
	def(&l.WebSocketPath, DefaultWebSocketPath)
	def(&l.SSEPath, DefaultSSEPath)
	def(&l.BusyMethod, DefaultMethod)
	def(&l.SlowMethod, DefaultMethod)
	l.BusyMethod = strings.ToUpper(l.BusyMethod)
	l.SlowMethod = strings.ToUpper(l.SlowMethod)
	if l.DialConcurrency <= 0 {
		l.DialConcurrency = DefaultDialConcurrency
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = DefaultRequestTimeout
	}
	if l.Streams <= 0 {
		l.Streams = DefaultStreams
	}
	if l.GRPC {
		l.HTTP2 = true
	}
	return l
}

// validate checks a load whose defaults are filled in.
func validate(l Load) error {
	var errs []error
	for _, f := range []struct {
		name string
		n    int
	}{
		{"Busy", l.Busy}, {"Conns", l.Conns}, {"Slow", l.Slow}, {"Idle", l.Idle}, {"Silent", l.Silent},
		{"WebSockets", l.WebSockets}, {"SSE", l.SSE}, {"Watches", l.Watches},
	} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("negative %s %d", f.name, f.n))
		}
	}
	switch {
	case l.GRPC && l.Slow+l.Idle+l.WebSockets+l.SSE > 0:
		errs = append(errs, fmt.Errorf("GRPC with Slow %d, Idle %d, WebSockets %d, SSE %d: want 0, a gRPC server serves none of them", l.Slow, l.Idle, l.WebSockets, l.SSE))
	case l.TLS && !l.HTTP2:
		errs = append(errs, errors.New("TLS without HTTP2 or GRPC: the probe speaks TLS over HTTP/2 only"))
	case l.TLS && l.Idle+l.WebSockets+l.SSE > 0:
		errs = append(errs, fmt.Errorf("TLS with Idle %d, WebSockets %d, SSE %d: want 0, they are plain HTTP/1", l.Idle, l.WebSockets, l.SSE))
	case !l.GRPC && l.Watches > 0:
		errs = append(errs, errors.New("a Watches count without GRPC: Watches are gRPC health Watch streams"))
	}
	switch {
	case l.SilentEvery < 0:
		errs = append(errs, fmt.Errorf("negative SilentEvery %v", l.SilentEvery))
	case l.SilentEvery > 0 && l.SilentSend == "":
		errs = append(errs, errors.New("SilentEvery without SilentSend: a trickle needs something to send"))
	}
	for _, f := range []struct{ name, method string }{{"BusyMethod", l.BusyMethod}, {"SlowMethod", l.SlowMethod}} {
		if f.method != http.MethodGet && f.method != http.MethodPost {
			errs = append(errs, fmt.Errorf("%s %q: want GET or POST", f.name, f.method))
		}
	}
	for _, f := range []struct{ name, path string }{
		{"BusyPath", l.BusyPath}, {"SlowPath", l.SlowPath}, {"IdlePath", l.IdlePath},
		{"WebSocketPath", l.WebSocketPath}, {"SSEPath", l.SSEPath},
	} {
		if err := checkPath(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// checkPath checks that path can go as is on a request line.
func checkPath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q does not begin with /", path)
	}
	if i := strings.IndexFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("path %q holds a space or a control character", path)
	}
	return nil
}

// A driver runs the load against one address.
type driver struct {
	addr   string // where to connect, host:port
	host   string // the Host header
	load   Load
	rec    *recorder
	dialer wire.Dialer // the sessions and streams of the load

	// The requests, built once.
	busyReq, slowReq, idleReq, sseReq []byte

	idle, silent   *held.Conns
	idleUnanswered atomic.Int64 // idle connections whose first request got no answer
	slowPending    atomic.Int64 // slow requests not yet ended
	streams        streams
	trickles       sync.WaitGroup // the silent sockets that trickle; they end with the load
	// exited is set once the process has exited: the streams still open
	// then are lost, not aborted.
	exited atomic.Bool
	// upgrading is set while an upgrade run's upgrades go on: a busy or
	// conn client whose connection is refused tries again (the refusal
	// is a failure of the upgrade, and the load must go on), rather than
	// stopping as it does once the server shuts down.
	upgrading atomic.Bool
}

func newDriver(addr, host string, load Load, rec *recorder, w *held.Watcher) *driver {
	d := &driver{
		addr: addr, host: host, load: load, rec: rec,
		dialer:  wire.Dialer{Addr: addr, Host: host, HTTP2: load.HTTP2, TLS: load.TLS, Timeout: load.RequestTimeout},
		busyReq: wire.HTTP1Request(load.BusyMethod, load.BusyPath, host),
		slowReq: wire.HTTP1Request(load.SlowMethod, load.SlowPath, host),
		idleReq: wire.HTTP1Request(http.MethodGet, load.IdlePath, host),
		sseReq:  wire.HTTP1RequestWith(http.MethodGet, load.SSEPath, host, "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"),
		idle:    held.NewConns(w),
		silent:  held.NewConns(w),
	}
	d.streams.init(load.RequestTimeout)
	d.slowPending.Store(int64(load.Slow))
	return d
}

// setupTimeout bounds each request the probe sends before the warm-up: an
// idle connection's first request, and the check that the server still
// answers a new connection once the quiet connections are open.
const setupTimeout = 5 * time.Second

// errStarved reports that, with the probe's quiet connections open (idle
// keep-alive connections, silent sockets), the server answered no request
// on a new connection within setupTimeout: it has, it seems, one worker
// per connection, and the quiet connections took them all.
var errStarved = errors.New("probe: the quiet connections starved the server")

// errNoHTTP2 reports that, with [Load.HTTP2], the server did not speak
// HTTP/2 on its port.
var errNoHTTP2 = errors.New("probe: the server does not speak HTTP/2")

// openIdle opens the idle connections, each with one request answered, at
// most DialConcurrency at a time. It returns when all have been tried.
func (d *driver) openIdle(ctx context.Context) {
	d.each(ctx, d.load.Idle, report.Idle, func(t *tally, i int) {
		c := wire.NewClient(d.addr, min(d.load.RequestTimeout, setupTimeout))
		x := c.Do(ctx, d.idleReq)
		t.add(i, x, ctx.Err() != nil)
		if errors.Is(x.Err, os.ErrDeadlineExceeded) {
			d.idleUnanswered.Add(1)
		}
		if c.Connected() {
			d.idle.Add(c.Detach()) // answered and kept alive
		}
	})
}

// checkAnswers checks that the server answers a request on a new
// connection within setupTimeout now that the quiet connections are open:
// a server with one worker per connection (pre-fork, thread-per-
// connection) may have given every worker to them, and a run would then
// measure nothing. It returns an error wrapping errStarved if so.
func (d *driver) checkAnswers(ctx context.Context) error {
	if d.load.HTTP2 {
		// A server that does not speak HTTP/2 here would have every
		// stream "lost": say so now instead.
		dl := d.dialer
		dl.Timeout = min(dl.Timeout, setupTimeout)
		c, x := dl.Dial(ctx)
		if c == nil {
			if ctx.Err() != nil || x.Step == wire.StepConnect || errors.Is(x.Err, os.ErrDeadlineExceeded) {
				return nil // the run will report it; a timeout may be a busy server
			}
			how := "without TLS (h2c, with prior knowledge)"
			if d.load.TLS {
				how = "over TLS (ALPN h2)"
			}
			return fmt.Errorf("%w %s on its port (%v): drop --http2 or --grpc, or add --tls if it serves TLS", errNoHTTP2, how, x.Err)
		}
		c.Close()
	}
	idle, silent := d.idle.Len(), d.silent.Len()
	if idle+silent == 0 {
		return nil
	}
	req := d.busyReq
	if d.load.Busy == 0 {
		req = d.idleReq
	}
	c := wire.NewClient(d.addr, setupTimeout)
	defer c.Close()
	x := c.Do(ctx, req)
	if x.Err == nil || ctx.Err() != nil || !errors.Is(x.Err, os.ErrDeadlineExceeded) {
		return nil // answered, or failed in a way the run will report
	}
	return fmt.Errorf("%w: with %d quiet connections open (%d idle keep-alive, %d silent sockets; %d more idle ones got no answer to their first request), "+
		"a request on a new connection got no answer within %v. The server seems to have one worker per connection (pre-fork, thread-per-connection), and the quiet connections took them all. "+
		"To probe its shutdown, hold fewer quiet connections than it has workers (drainprobe --idle and --silent; Load.Idle and Load.Silent), or none; "+
		"browsers do hold connections like these, so consider more workers, or a server that gives no worker to a quiet connection",
		errStarved, idle+silent, idle, silent, d.idleUnanswered.Load(), setupTimeout)
}

// openSilent opens the silent sockets, at most DialConcurrency at a time.
func (d *driver) openSilent(ctx context.Context) {
	dialer := net.Dialer{Timeout: d.load.RequestTimeout}
	d.each(ctx, d.load.Silent, report.Silent, func(t *tally, i int) {
		x := wire.Exchange{Sent: time.Now()}
		nc, err := dialer.DialContext(ctx, "tcp", d.addr)
		if err != nil {
			x.Done, x.Step, x.Err = time.Now(), wire.StepConnect, err
			t.add(i, x, ctx.Err() != nil)
			return
		}
		d.silent.Add(nc)
		switch {
		case d.load.SilentEvery > 0:
			d.trickles.Go(func() { trickle(ctx, nc, d.load.SilentSend, d.load.SilentEvery) })
		case d.load.SilentSend != "":
			io.WriteString(nc, d.load.SilentSend)
		}
	})
}

// trickle sends s on nc a byte every interval, then a header line that
// never ends, until ctx ends or a write fails.
func trickle(ctx context.Context, nc net.Conn, s string, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; ; i++ {
		b := byte('x')
		if i < len(s) {
			b = s[i]
		}
		if _, err := nc.Write([]byte{b}); err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// each calls fn(i) for i in [0, n), on at most DialConcurrency goroutines,
// and returns when all calls have.
func (d *driver) each(ctx context.Context, n int, k report.Kind, fn func(t *tally, i int)) {
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
	d.send(ctx, report.Busy, i, d.busyRequest(), d.load.Streams, true)
}

// conn is the loop of conn client i: requests back to back, each on a
// new connection.
func (d *driver) conn(ctx context.Context, i int) {
	d.send(ctx, report.Conn, i, d.busyRequest(), 1, true)
}

// busyRequest is the request of the busy and conn clients.
func (d *driver) busyRequest() wire.Request {
	if d.load.GRPC {
		return wire.HealthRequest("Check", d.load.GRPCService, d.load.RequestTimeout)
	}
	return wire.Request{Method: d.load.BusyMethod, Path: d.load.BusyPath, Raw: d.busyReq, Timeout: d.load.RequestTimeout}
}

// slow sends slow request i on a connection of its own.
func (d *driver) slow(ctx context.Context, i int) {
	defer d.slowPending.Add(-1)
	d.send(ctx, report.Slow, i, wire.Request{Method: d.load.SlowMethod, Path: d.load.SlowPath, Raw: d.slowReq, Timeout: d.load.RequestTimeout}, 1, false)
}

// closeQuiet closes the idle connections and silent sockets still open
// once the server has had nothing to answer for after since the signal:
// no slow request pending, no response for that long. It returns how long
// to wait before asking again, 0 for never, and when it closed them (zero
// if it did not).
func (d *driver) closeQuiet(signal time.Time, after time.Duration) (time.Duration, time.Time) {
	if d.slowPending.Load() > 0 {
		return after, time.Time{}
	}
	// The timeline knows when requests were answered, to its bucket's
	// width: no request pays for asking.
	quiet := signal
	tl := d.rec.timeline.snapshot(time.Time{})
	if last := tl.LastAnswered(); last.After(quiet) {
		quiet = last
	}
	if wait := time.Until(quiet.Add(after)); wait > 0 {
		return wait, time.Time{}
	}
	if d.idle.Open()+d.silent.Open() == 0 {
		return 0, time.Time{}
	}
	at := time.Now() // before the closes: an exit they cause comes after it
	d.idle.CloseOpen()
	d.silent.CloseOpen()
	return 0, at
}

// send is client i of kind k: on one session (a [wire.Session], in the
// protocol of the load) it keeps streams requests in
// flight (HTTP/1: one), with repeat a new one as each ends, and without
// it only the first; a Conn client sends one request on each session.
// Once its session takes no more and its requests have ended, it connects
// again; it stops when a new connection is refused (but while an upgrade
// run's upgrades go on) or ctx ends.
func (d *driver) send(ctx context.Context, k report.Kind, i int, req wire.Request, streams int, repeat bool) {
	t := d.rec.tally(k)
	defer t.merge()
	out := make(chan wire.Exchange, streams)
	for sent := false; ctx.Err() == nil && (repeat || !sent); {
		c, x := d.dialer.Dial(ctx)
		if c == nil {
			rec := t.add(i, x, ctx.Err() != nil)
			switch {
			case !repeat:
				return
			case rec.Outcome == report.Refused && !d.upgrading.Load():
				return
			case rec.Outcome == report.Refused:
				pause(ctx, refusedPause)
			}
			continue
		}
		seq, inFlight := 0, 0
		fill := func() {
			for inFlight < c.Capacity(streams) && ctx.Err() == nil && (repeat || !sent) && (k != report.Conn || seq == 0) {
				if !c.Send(req, seq+1, out) {
					return
				}
				seq++
				inFlight++
				sent = true
			}
		}
		fill()
		if seq == 0 && ctx.Err() == nil {
			// Told to go away before it could send anything: as good as
			// refused, and it would be again.
			c.Close()
			t.put(i, wire.Exchange{Sent: x.Sent, Done: time.Now(), Err: errors.New("GOAWAY before any stream")}, report.Refused, streamAboveGoAway)
			if !d.upgrading.Load() {
				return
			}
			pause(ctx, refusedPause)
			continue
		}
		for inFlight > 0 {
			x := <-out
			inFlight--
			o, why := judge(x)
			if req.GRPC && o == report.Answered {
				x, o, why = grpcAnswer(x)
			}
			if o != report.Answered && ctx.Err() != nil {
				o, why = report.Aborted, probeStopping
			}
			t.put(i, x, o, why)
			fill()
		}
		c.Close()
	}
}

// refusedPause is how long a client whose connection was refused waits
// before it tries again, during an upgrade run's upgrades.
const refusedPause = 10 * time.Millisecond

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// close closes every connection the driver still holds. The load must
// have stopped.
func (d *driver) close() {
	d.trickles.Wait()
	d.idle.CloseAll()
	d.silent.CloseAll()
	d.streams.closeAll()
}
