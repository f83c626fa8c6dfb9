package probe

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Reasons of the HTTP/2 streams' outcomes.
const (
	// Refused: the server did not process the stream, so a client may
	// safely send it again.
	streamAboveGoAway Reason = "above GOAWAY's last stream" // its id was above the last stream the server said it would process
	streamRefused     Reason = "REFUSED_STREAM"             // reset by the server with REFUSED_STREAM
	// Lost.
	streamReset Reason = "stream reset" // reset by the server with another code, after it took the stream
	connLost    Reason = "connection closed under the stream"
)

// An h2conn is one HTTP/2 connection of the probe's (h2c with prior
// knowledge, or TLS with ALPN h2), on which a client keeps several streams in
// flight. A read loop of its own reads the server's frames and ends each
// stream with a result on the channel given when it was opened.
type h2conn struct {
	nc     net.Conn
	fr     *http2.Framer
	scheme string // http or https

	wmu  sync.Mutex // the framer's writing side and the header encoder
	henc *hpack.Encoder
	hbuf bytes.Buffer

	mu       sync.Mutex
	streams  map[uint32]*h2stream
	next     uint32 // the next stream id
	goAway   bool   // a GOAWAY came: open no more streams
	ended    bool   // the read loop has ended, or is ending the streams
	lastID   uint32 // GOAWAY's last stream id
	maxOpen  int    // the server's SETTINGS_MAX_CONCURRENT_STREAMS
	settings chan struct{}
	done     chan struct{} // closed when the read loop has returned
}

// A request is what a busy or slow client sends, in any protocol.
type request struct {
	method, path string
	raw          []byte      // HTTP/1: the whole request, built once
	header       [][2]string // HTTP/2: more fields, after the pseudo-headers
	body         []byte
	// timeout bounds the stream from its sending to its end; 0: the
	// stream may stay open as long as the connection does. (An HTTP/1
	// client has its own.)
	timeout time.Duration
	grpc    bool // a gRPC call: its result is its grpc-status
}

// An h2stream is a request in flight.
type h2stream struct {
	x          wire.Exchange
	status     int
	grpcStatus string        // the grpc-status field, in the headers or the trailers
	headed     bool          // the response's headers came
	opened     chan struct{} // closed when they do
	out        chan<- result
	timer      *time.Timer // nil without a timeout
}

// dialH2 connects to the driver's address (over TLS with Load.TLS,
// negotiating h2 and trusting any certificate), speaks the client preface,
// and waits for the server's SETTINGS. The exchange tells why it failed,
// as for a request that could not connect.
func (d *driver) dialH2(ctx context.Context, timeout time.Duration) (*h2conn, wire.Exchange) {
	x := wire.Exchange{Sent: time.Now()}
	nd := net.Dialer{Timeout: timeout}
	nc, err := nd.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		x.Done, x.Step, x.Err = time.Now(), wire.StepConnect, err
		return nil, x
	}
	scheme := "http"
	if d.load.TLS {
		scheme = "https"
		host, _, _ := net.SplitHostPort(d.host)
		tc := tls.Client(nc, &tls.Config{
			ServerName:         cmp.Or(host, d.host),
			NextProtos:         []string{http2.NextProtoTLS},
			InsecureSkipVerify: true, // the probe judges shutdowns, not certificates
		})
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err == nil && tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
			err = fmt.Errorf("the server did not negotiate HTTP/2 (ALPN %q)", tc.ConnectionState().NegotiatedProtocol)
		}
		if err != nil {
			nc.Close()
			x.Done, x.Step, x.Err = time.Now(), wire.StepWrite, err
			return nil, x
		}
		nc = tc
	}
	c := &h2conn{
		nc: nc, fr: http2.NewFramer(nc, nc), scheme: scheme,
		streams: map[uint32]*h2stream{}, next: 1, maxOpen: 100,
		settings: make(chan struct{}), done: make(chan struct{}),
	}
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err = nc.Write([]byte(http2.ClientPreface))
	if err == nil {
		// A large connection window, so that flow control never holds the
		// server's answers.
		err = c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 24})
	}
	if err == nil {
		err = c.fr.WriteWindowUpdate(0, 1<<30)
	}
	nc.SetWriteDeadline(time.Time{})
	if err != nil {
		nc.Close()
		x.Done, x.Step, x.Err = time.Now(), wire.StepWrite, err
		return nil, x
	}
	go c.readLoop() // owned: close waits for done
	select {
	case <-c.settings:
		return c, x
	case <-c.done:
		x.Done, x.Step, x.Err = time.Now(), wire.StepHeader, errors.New("connection closed before the server's SETTINGS")
	case <-time.After(timeout):
		c.close()
		x.Done, x.Step, x.Err = time.Now(), wire.StepHeader, fmt.Errorf("no SETTINGS from the server within %v: %w", timeout, os.ErrDeadlineExceeded)
	case <-ctx.Done():
		c.close()
		x.Done, x.Step, x.Err = time.Now(), wire.StepHeader, ctx.Err()
	}
	<-c.done
	return nil, x
}

// capacity returns how many streams the client may keep in flight on c.
func (c *h2conn) capacity(want int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return min(want, c.maxOpen)
}

// open sends req to host as a new stream, and arranges for its result to
// be sent on out. It returns the stream, or nil, sending nothing, if the
// connection may take no new stream (a GOAWAY came, or it is closed).
func (c *h2conn) open(req request, host string, seq int, out chan<- result) *h2stream {
	c.mu.Lock()
	if c.goAway || c.ended {
		c.mu.Unlock()
		return nil
	}
	id := c.next
	c.next += 2
	s := &h2stream{x: wire.Exchange{Sent: time.Now(), Seq: seq}, out: out, opened: make(chan struct{})}
	c.streams[id] = s
	c.mu.Unlock()

	c.wmu.Lock()
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", req.method}, {":scheme", c.scheme}, {":authority", host}, {":path", req.path}} {
		c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for _, f := range req.header {
		c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: len(req.body) == 0, EndHeaders: true})
	if err == nil && len(req.body) > 0 {
		err = c.fr.WriteData(id, true, req.body)
	}
	c.wmu.Unlock()
	if err != nil {
		c.end(id, Lost, writeFailed, wire.StepWrite, err)
		return s
	}
	// The timeout runs from now: expire's RST_STREAM must follow the
	// HEADERS.
	if req.timeout > 0 {
		c.mu.Lock()
		if c.streams[id] == s {
			s.timer = time.AfterFunc(req.timeout, func() { c.expire(id) })
		}
		c.mu.Unlock()
	}
	return s
}

// expire ends a stream not answered within the timeout, and resets it.
func (c *h2conn) expire(id uint32) {
	if c.end(id, Lost, responseTimeout, wire.StepHeader, os.ErrDeadlineExceeded) {
		c.wmu.Lock()
		c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		c.wmu.Unlock()
	}
}

// end ends stream id with outcome o, unless it has ended already, and
// reports whether it did.
func (c *h2conn) end(id uint32, o Outcome, why Reason, st wire.Step, err error) bool {
	c.mu.Lock()
	s := c.streams[id]
	delete(c.streams, id)
	var timer *time.Timer
	if s != nil {
		timer = s.timer
	}
	c.mu.Unlock()
	if s == nil {
		return false
	}
	if timer != nil {
		timer.Stop()
	}
	s.x.Done, s.x.Status, s.x.Step, s.x.Err = time.Now(), s.status, st, err
	s.out <- result{x: s.x, o: o, why: why, grpcStatus: s.grpcStatus}
	return true
}

// readLoop reads the server's frames until the connection ends, then ends
// every stream still open: refused if the server said it would not
// process it, lost otherwise.
func (c *h2conn) readLoop() {
	defer close(c.done)
	defer c.nc.Close()
	var settled bool
	err := func() error {
		for {
			f, err := c.fr.ReadFrame()
			var se http2.StreamError
			if errors.As(err, &se) {
				// One stream's fault (a malformed header, say): that stream
				// is lost, the connection goes on.
				c.end(se.StreamID, Lost, badResponse, wire.StepHeader, se)
				continue
			}
			if err != nil {
				return err
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if f.IsAck() {
					continue
				}
				if v, ok := f.Value(http2.SettingHeaderTableSize); ok {
					c.wmu.Lock()
					c.henc.SetMaxDynamicTableSizeLimit(v)
					c.wmu.Unlock()
				}
				if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
					c.mu.Lock()
					c.maxOpen = int(min(v, 1<<16))
					c.mu.Unlock()
				}
				c.wmu.Lock()
				err := c.fr.WriteSettingsAck()
				c.wmu.Unlock()
				if err != nil {
					return err
				}
				if !settled {
					settled = true
					close(c.settings)
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					c.wmu.Lock()
					c.fr.WritePing(true, f.Data)
					c.wmu.Unlock()
				}
			case *http2.MetaHeadersFrame:
				c.mu.Lock()
				if s := c.streams[f.StreamID]; s != nil {
					// The response's headers, unless informational (the real
					// ones follow); then the trailers.
					// A stream that ends with its headers never opened.
					if st, _ := strconv.Atoi(f.PseudoValue("status")); !s.headed && (st < 100 || st >= 200) {
						s.status, s.headed = st, true
						if !f.StreamEnded() {
							close(s.opened)
						}
					}
					for _, hf := range f.Fields {
						if hf.Name == "grpc-status" {
							s.grpcStatus = hf.Value
						}
					}
				}
				c.mu.Unlock()
				if f.StreamEnded() {
					c.end(f.StreamID, Answered, "", wire.StepHeader, nil)
				}
			case *http2.DataFrame:
				// What was read is given back, to the connection and to the
				// stream, so that flow control never holds a response.
				if n := f.Length; n > 0 {
					c.wmu.Lock()
					c.fr.WriteWindowUpdate(0, n)
					if !f.StreamEnded() {
						c.fr.WriteWindowUpdate(f.StreamID, n)
					}
					c.wmu.Unlock()
				}
				if f.StreamEnded() {
					c.end(f.StreamID, Answered, "", wire.StepBody, nil)
				}
			case *http2.RSTStreamFrame:
				if f.ErrCode == http2.ErrCodeRefusedStream {
					c.end(f.StreamID, Refused, streamRefused, wire.StepHeader, fmt.Errorf("stream reset: %v", f.ErrCode))
				} else {
					c.end(f.StreamID, Lost, streamReset, wire.StepHeader, fmt.Errorf("stream reset: %v", f.ErrCode))
				}
			case *http2.GoAwayFrame:
				c.mu.Lock()
				c.goAway, c.lastID = true, f.LastStreamID
				var above []uint32
				for id := range c.streams {
					if id > f.LastStreamID {
						above = append(above, id)
					}
				}
				c.mu.Unlock()
				for _, id := range above {
					c.end(id, Refused, streamAboveGoAway, wire.StepHeader, fmt.Errorf("GOAWAY with last stream %d (%v)", f.LastStreamID, f.ErrCode))
				}
			}
		}
	}()
	c.mu.Lock()
	c.ended = true // open takes no stream from now on
	goAway, last := c.goAway, c.lastID
	ids := make([]uint32, 0, len(c.streams))
	for id := range c.streams {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		if goAway && id > last {
			c.end(id, Refused, streamAboveGoAway, wire.StepHeader, err)
		} else {
			c.end(id, Lost, connLost, wire.StepHeader, err)
		}
	}
}

// close closes the connection and waits for the read loop, which ends
// the streams still open.
func (c *h2conn) close() {
	c.nc.Close()
	<-c.done
}

// An h2session is a client's HTTP/2 connection as a [session]: as many
// streams in flight as the server allows.
type h2session struct {
	*h2conn
	host string
	stop func() bool // stops closing the connection when ctx ends
}

func (s *h2session) send(req request, seq int, out chan<- result) bool {
	return s.open(req, s.host, seq, out) != nil
}

func (s *h2session) close() {
	s.stop()
	s.h2conn.close()
}
