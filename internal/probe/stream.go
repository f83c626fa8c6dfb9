package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// streams are the WebSocket, SSE and gRPC Watch streams the load keeps
// open. Each is opened by [driver.openStreams] and then read by a
// goroutine of its own until it ends ([driver.readStream]).
type streams struct {
	hc *http.Client // for the WebSocket handshakes

	mu   sync.Mutex
	list []*stream
	// open counts the streams open now, by kind: WebSocket, SSE, Watch.
	open [3]atomic.Int64
}

// A stream is one open WebSocket, SSE or gRPC Watch stream.
type stream struct {
	*wire.Stream
	kind   report.Kind
	i      int
	sent   time.Time // when its opening began
	status int       // of the handshake's response
}

func (s *streams) init(timeout time.Duration) { s.hc = wire.WebSocketClient(timeout) }

func openIndex(k report.Kind) int {
	switch k {
	case report.SSE:
		return 1
	case report.Watch:
		return 2
	}
	return 0
}

func (s *streams) add(st *stream) {
	s.open[openIndex(st.kind)].Add(1)
	s.mu.Lock()
	s.list = append(s.list, st)
	s.mu.Unlock()
}

// opened returns the streams opened, and how many of each kind.
func (s *streams) opened() (list []*stream, ws, sse, watch int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.list {
		switch st.kind {
		case report.WebSocket:
			ws++
		case report.SSE:
			sse++
		case report.Watch:
			watch++
		}
	}
	return s.list, ws, sse, watch
}

// closeAll closes every stream, and the handshakes' connections. The
// readers must have returned.
func (s *streams) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.list {
		st.Close()
	}
	s.hc.CloseIdleConnections()
}

// openStreams opens the WebSocket streams, then the SSE streams, then the
// gRPC Watch streams, at most DialConcurrency at a time, and counts those
// it could not open.
func (d *driver) openStreams(ctx context.Context) {
	for _, kn := range []struct {
		k report.Kind
		n int
	}{{report.WebSocket, d.load.WebSockets}, {report.SSE, d.load.SSE}, {report.Watch, d.load.Watches}} {
		d.each(ctx, kn.n, kn.k, func(t *tally, i int) {
			s, x := d.openStream(ctx, kn.k)
			if s == nil {
				o, why := d.openFailed(ctx, x)
				t.put(i, x, o, why)
				return
			}
			d.streams.add(&stream{Stream: s, kind: kn.k, i: i, sent: x.Sent, status: x.Status})
		})
	}
}

// openStream opens a stream of kind k. It returns a nil stream and what
// happened if it could not.
func (d *driver) openStream(ctx context.Context, k report.Kind) (*wire.Stream, wire.Exchange) {
	switch k {
	case report.SSE:
		return d.dialer.OpenSSE(ctx, d.sseReq)
	case report.Watch:
		return d.dialer.OpenWatch(ctx, d.load.GRPCService)
	}
	return d.dialer.OpenWebSocket(ctx, d.streams.hc, d.load.WebSocketPath)
}

// openFailed classifies a stream that could not be opened: refused, with
// the reason of its connect if that failed.
func (d *driver) openFailed(ctx context.Context, x wire.Exchange) (report.Outcome, report.Reason) {
	var oe *net.OpError
	switch {
	case ctx.Err() != nil:
		return report.Aborted, probeStopping
	case x.Step == wire.StepConnect, x.Status == 0 && errors.As(x.Err, &oe) && oe.Op == "dial":
		return classify(wire.StepConnect, x.Err, false)
	}
	return report.Refused, streamNotOpened
}

// readStream reads stream st until it ends or ctx ends, and counts how it
// ended.
func (d *driver) readStream(ctx context.Context, st *stream) {
	t := d.rec.tally(st.kind)
	defer t.merge()
	x := wire.Exchange{Sent: st.sent, Seq: 1, Status: st.status}
	var err error
	x.Code, err = st.Read(ctx)
	x.Done = time.Now()
	d.streams.open[openIndex(st.kind)].Add(-1)
	o, why := report.Answered, report.Reason("")
	ours := ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed))
	switch {
	case err == nil:
	case ours && d.exited.Load():
		o, why = report.Lost, streamOpenAtEnd
	case ours:
		o, why = report.Aborted, probeStopping
	default:
		o, why = report.Lost, streamCut
	}
	x.Err = err
	t.put(st.i, x, o, why)
}
