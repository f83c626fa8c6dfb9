package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"

	"github.com/coder/websocket"
)

// longAgo is a deadline in the past: setting it makes blocked reads and
// writes return at once.
var longAgo = time.Unix(1, 0)

// streams are the WebSocket, SSE and gRPC Watch streams the load keeps
// open. Each is
// opened by [driver.openStreams] and then read by a goroutine of its own
// until it ends ([driver.readStream]); reading costs nothing while the
// server sends nothing.
type streams struct {
	tr *http.Transport // for the WebSocket handshakes
	hc *http.Client

	mu   sync.Mutex
	list []*stream
	// open counts the streams open now, by kind: WebSocket, SSE, Watch.
	open [3]atomic.Int64
}

// A stream is one open WebSocket, SSE or gRPC Watch stream.
type stream struct {
	kind   Kind
	i      int
	sent   time.Time // when its opening began
	status int       // of the handshake's response

	ws    *websocket.Conn // WebSocket
	nc    net.Conn        // SSE
	body  io.Reader       // SSE: the response's body
	h2    *h2conn         // Watch: its connection
	h2out chan result     // Watch: its end
}

func (s *streams) init(timeout time.Duration) {
	dialer := &net.Dialer{Timeout: timeout}
	s.tr = &http.Transport{
		DialContext:        dialer.DialContext,
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	s.hc = &http.Client{
		Transport: s.tr,
		// A redirect could lead anywhere: the stream is not opened.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func openIndex(k Kind) int {
	switch k {
	case SSE:
		return 1
	case Watch:
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
		case WebSocket:
			ws++
		case SSE:
			sse++
		case Watch:
			watch++
		}
	}
	return s.list, ws, sse, watch
}

// closeAll closes every stream, and the transport's connections. The
// readers must have returned.
func (s *streams) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.list {
		st.close()
	}
	s.tr.CloseIdleConnections()
}

func (st *stream) close() {
	if st.ws != nil {
		st.ws.CloseNow()
	}
	if st.nc != nil {
		st.nc.Close()
	}
	if st.h2 != nil {
		st.h2.nc.Close()
	}
}

// openStreams opens the WebSocket streams, then the SSE streams, at most
// DialConcurrency at a time, and counts those it could not open.
func (d *driver) openStreams(ctx context.Context) {
	for _, k := range []Kind{WebSocket, SSE, Watch} {
		n, open := d.load.WebSockets, d.openWebSocket
		switch k {
		case SSE:
			n, open = d.load.SSE, d.openSSE
		case Watch:
			n, open = d.load.Watches, d.openWatch
		}
		d.each(ctx, n, k, func(t *tally, i int) {
			st, x := open(ctx)
			if st == nil {
				o, why := d.openFailed(ctx, x)
				t.put(i, x, o, why)
				return
			}
			st.i = i
			d.streams.add(st)
		})
	}
}

// openFailed classifies a stream that could not be opened: refused, with
// the reason of its connect if that failed.
func (d *driver) openFailed(ctx context.Context, x wire.Exchange) (Outcome, Reason) {
	var oe *net.OpError
	switch {
	case ctx.Err() != nil:
		return Aborted, probeStopping
	case x.Step == wire.StepConnect, x.Status == 0 && errors.As(x.Err, &oe) && oe.Op == "dial":
		return classify(wire.StepConnect, x.Err, false)
	}
	return Refused, streamNotOpened
}

// openWebSocket opens a WebSocket stream. It returns a nil stream and
// what happened if it could not.
func (d *driver) openWebSocket(ctx context.Context) (*stream, wire.Exchange) {
	x := wire.Exchange{Sent: time.Now(), Seq: 1, Step: wire.StepHeader}
	octx, cancel := context.WithTimeout(ctx, d.load.RequestTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(octx, "http://"+d.addr+d.load.WebSocketPath, &websocket.DialOptions{
		HTTPClient:      d.streams.hc,
		Host:            d.host,
		CompressionMode: websocket.CompressionDisabled,
	})
	x.Done = time.Now()
	if resp != nil {
		x.Status = resp.StatusCode
	}
	if err != nil {
		x.Err = err
		return nil, x
	}
	c.SetReadLimit(-1) // whatever the server sends is read and discarded
	return &stream{kind: WebSocket, sent: x.Sent, status: x.Status, ws: c}, x
}

// openSSE opens an SSE stream: it sends the request and reads the
// response's header. It returns a nil stream and what happened if it
// could not.
func (d *driver) openSSE(ctx context.Context) (*stream, wire.Exchange) {
	x := wire.Exchange{Sent: time.Now(), Seq: 1}
	c := wire.NewClient(d.addr, d.load.RequestTimeout)
	if err := c.Connect(ctx); err != nil {
		x.Done, x.Step, x.Err = time.Now(), wire.StepConnect, err
		return nil, x
	}
	nc := c.Conn()
	nc.SetDeadline(x.Sent.Add(d.load.RequestTimeout))
	if ctx.Err() != nil { // see client.do
		nc.SetDeadline(longAgo)
	}
	defer c.Detach() // the connection is the stream's, or closed
	resp, st, err := c.Send(d.sseReq)
	x.Done, x.Step = time.Now(), st
	if err == nil {
		x.Status = resp.StatusCode
		if resp.StatusCode/100 != 2 {
			err = errors.New("status " + resp.Status)
		}
	}
	if err != nil {
		x.Err = err
		nc.Close()
		return nil, x
	}
	nc.SetDeadline(time.Time{})
	return &stream{kind: SSE, sent: x.Sent, status: x.Status, nc: nc, body: resp.Body}, x
}

// readStream reads stream st until it ends or ctx ends, and counts how it
// ended.
func (d *driver) readStream(ctx context.Context, st *stream) {
	t := d.rec.tally(st.kind)
	defer t.merge()
	x := wire.Exchange{Sent: st.sent, Seq: 1, Status: st.status}
	var err error
	switch st.kind {
	case WebSocket:
		x.Code, err = readWebSocket(ctx, st.ws)
	case SSE:
		err = readSSE(ctx, st.nc, st.body)
	case Watch:
		err = readWatch(ctx, st)
	}
	x.Done = time.Now()
	d.streams.open[openIndex(st.kind)].Add(-1)
	o, why := Answered, Reason("")
	ours := ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed))
	switch {
	case err == nil:
	case ours && d.exited.Load():
		o, why = Lost, streamOpenAtEnd
	case ours:
		o, why = Aborted, probeStopping
	default:
		o, why = Lost, streamCut
	}
	x.Err = err
	t.put(st.i, x, o, why)
}

// readWebSocket reads and discards messages until the connection ends. It
// returns the code of the close frame that ended it, or the error if none
// did. It closes the connection.
func readWebSocket(ctx context.Context, c *websocket.Conn) (int, error) {
	defer c.CloseNow()
	for {
		_, r, err := c.Reader(ctx)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 {
				return int(code), nil
			}
			return 0, err
		}
	}
}

// readSSE reads and discards the body until it ends, and returns nil if
// it ended cleanly. It closes the connection.
func readSSE(ctx context.Context, nc net.Conn, body io.Reader) error {
	defer nc.Close()
	defer wire.FailOnDone(ctx, nc)()
	_, err := io.Copy(io.Discard, body)
	return err
}
