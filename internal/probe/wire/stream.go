package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/coder/websocket"
)

// A Stream is one open WebSocket, server-sent events or gRPC Watch
// stream: opened by [Dialer.OpenWebSocket], [Dialer.OpenSSE] or
// [Dialer.OpenWatch], then read until it ends ([Stream.Read]); reading
// costs nothing while the server sends nothing.
type Stream struct {
	ws    *websocket.Conn // WebSocket
	nc    net.Conn        // SSE
	body  io.Reader       // SSE: the response's body
	h2    *h2conn         // Watch: its connection
	h2out chan Exchange   // Watch: its end
}

// WebSocketClient returns the HTTP client of the WebSocket handshakes:
// each on a connection of its own, connected within timeout, and never
// redirected. Its CloseIdleConnections closes what it keeps.
func WebSocketClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: timeout}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:        dialer.DialContext,
			DisableKeepAlives:  true,
			DisableCompression: true,
		},
		// A redirect could lead anywhere: the stream is not opened.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// OpenWebSocket opens a WebSocket stream on path with hc (see
// [WebSocketClient]). It returns a nil stream and what happened if it
// could not.
func (d Dialer) OpenWebSocket(ctx context.Context, hc *http.Client, path string) (*Stream, Exchange) {
	x := Exchange{Sent: time.Now(), Seq: 1, Step: StepHeader}
	octx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	c, resp, err := websocket.Dial(octx, "http://"+d.Addr+path, &websocket.DialOptions{
		HTTPClient:      hc,
		Host:            d.Host,
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
	return &Stream{ws: c}, x
}

// OpenSSE opens an SSE stream: it sends req (see [HTTP1RequestWith]) and
// reads the response's header, which must have a 2xx status. It returns a
// nil stream and what happened if it could not.
func (d Dialer) OpenSSE(ctx context.Context, req []byte) (*Stream, Exchange) {
	x := Exchange{Sent: time.Now(), Seq: 1}
	c := NewClient(d.Addr, d.Timeout)
	if err := c.Connect(ctx); err != nil {
		x.Done, x.Step, x.Err = time.Now(), StepConnect, err
		return nil, x
	}
	nc := c.nc
	nc.SetDeadline(x.Sent.Add(d.Timeout))
	if ctx.Err() != nil { // see Client.Do
		nc.SetDeadline(longAgo)
	}
	defer c.Detach() // the connection is the stream's, or closed
	resp, st, err := c.send(req)
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
	return &Stream{nc: nc, body: resp.Body}, x
}

// OpenWatch opens a gRPC Health Watch stream for service, on an HTTP/2
// connection of its own, and waits for the response's headers. It
// returns a nil stream and what happened if it could not.
func (d Dialer) OpenWatch(ctx context.Context, service string) (*Stream, Exchange) {
	c, x := dialH2(ctx, d)
	if c == nil {
		return nil, x
	}
	out := make(chan Exchange, 1)
	// A Watch stays open: no timeout but the opening's.
	s := c.open(HealthRequest("Watch", service, 0), 1, out)
	if s == nil {
		c.close()
		x.Done, x.Step, x.Err = time.Now(), StepHeader, errors.New("GOAWAY before the stream")
		return nil, x
	}
	timer := time.NewTimer(d.Timeout)
	defer timer.Stop()
	sent := s.x.Sent // set before open returned; the rest of s.x is end's
	select {
	case <-s.opened:
		return &Stream{h2: c, h2out: out}, Exchange{Sent: sent, Seq: 1, Status: http.StatusOK}
	case r := <-out: // ended before it opened
		c.close()
		if r.Err == nil { // answered
			r.Err = fmt.Errorf("the Watch stream ended at once, grpc-status %q", r.GRPCStatus)
		}
		return nil, r
	case <-timer.C:
		x.Err = os.ErrDeadlineExceeded
	case <-ctx.Done():
		x.Err = ctx.Err()
	}
	c.close()
	x.Done, x.Step = time.Now(), StepHeader
	return nil, x
}

// Read reads the stream, discarding what it reads, until it ends or ctx
// ends, and closes it. It returns nil if the server ended the stream
// cleanly: a WebSocket with a close frame, whose code it returns; an SSE
// response's body to its end; a Watch with trailers, whatever its status.
func (s *Stream) Read(ctx context.Context) (code int, err error) {
	switch {
	case s.ws != nil:
		return readWebSocket(ctx, s.ws)
	case s.h2 != nil:
		return 0, s.readWatch(ctx)
	}
	return 0, readSSE(ctx, s.nc, s.body)
}

// Close closes the stream's connection.
func (s *Stream) Close() {
	if s.ws != nil {
		s.ws.CloseNow()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.h2 != nil {
		s.h2.nc.Close()
	}
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
	defer failOnDone(ctx, nc)()
	_, err := io.Copy(io.Discard, body)
	return err
}

// readWatch waits for the Watch stream to end, or ctx to end, and returns
// nil if the server ended it cleanly (with trailers, whatever its status).
// It closes the connection.
func (s *Stream) readWatch(ctx context.Context) error {
	defer s.h2.close()
	select {
	case r := <-s.h2out:
		if r.Err == nil && r.GRPCStatus != "" {
			return nil
		}
		if r.Err != nil {
			return r.Err
		}
		return errors.New("stream ended without a gRPC status")
	case <-ctx.Done():
		s.h2.nc.Close()
		<-s.h2out
		return ctx.Err()
	}
}
