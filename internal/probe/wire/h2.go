package wire

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

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// An End is how the server ended an HTTP/2 stream without a response,
// when [Exchange.Step] and [Exchange.Err] do not say it all.
type End int

const (
	EndNone End = iota // answered, an HTTP/1 request, or as Step and Err say
	// The server did not process the stream: a client may send it again.
	EndAboveGoAway // its id was above the last stream of the server's GOAWAY
	EndRefused     // reset by the server with REFUSED_STREAM
	// The server took the stream and did not answer it.
	EndReset    // reset by the server with another code
	EndConnLost // the connection closed under the stream
)

// An h2conn is one HTTP/2 connection of the probe's (h2c with prior
// knowledge, or TLS with ALPN h2), on which a client keeps several streams in
// flight. A read loop of its own reads the server's frames and ends each
// stream with its exchange on the channel given when it was opened.
type h2conn struct {
	nc     net.Conn
	fr     *http2.Framer
	scheme string // http or https
	host   string // :authority

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

// An h2stream is a request in flight. Its exchange's Status and
// GRPCStatus are set as the response's headers and trailers come.
type h2stream struct {
	x      Exchange
	headed bool          // the response's headers came
	opened chan struct{} // closed when they do
	out    chan<- Exchange
	timer  *time.Timer // nil without a timeout
}

// dialH2 connects to d.Addr (over TLS with d.TLS, negotiating h2 and
// trusting any certificate), speaks the client preface, and waits for the
// server's SETTINGS. The exchange tells why it failed, as for a request
// that could not connect.
func dialH2(ctx context.Context, d Dialer) (*h2conn, Exchange) {
	timeout := d.Timeout
	x := Exchange{Sent: time.Now()}
	nd := net.Dialer{Timeout: timeout}
	nc, err := nd.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		x.Done, x.Step, x.Err = time.Now(), StepConnect, err
		return nil, x
	}
	scheme := "http"
	if d.TLS {
		scheme = "https"
		host, _, _ := net.SplitHostPort(d.Host)
		tc := tls.Client(nc, &tls.Config{
			ServerName:         cmp.Or(host, d.Host),
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
			x.Done, x.Step, x.Err = time.Now(), StepWrite, err
			return nil, x
		}
		nc = tc
	}
	c := &h2conn{
		nc: nc, fr: http2.NewFramer(nc, nc), scheme: scheme, host: d.Host,
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
		x.Done, x.Step, x.Err = time.Now(), StepWrite, err
		return nil, x
	}
	go c.readLoop() // owned: close waits for done
	select {
	case <-c.settings:
		return c, x
	case <-c.done:
		x.Done, x.Step, x.Err = time.Now(), StepHeader, errors.New("connection closed before the server's SETTINGS")
	case <-time.After(timeout):
		c.close()
		x.Done, x.Step, x.Err = time.Now(), StepHeader, fmt.Errorf("no SETTINGS from the server within %v: %w", timeout, os.ErrDeadlineExceeded)
	case <-ctx.Done():
		c.close()
		x.Done, x.Step, x.Err = time.Now(), StepHeader, ctx.Err()
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

// open sends req as a new stream, and arranges for its exchange to be
// sent on out once it ends. It returns the stream, or nil, sending
// nothing, if the connection may take no new stream (a GOAWAY came, or it
// is closed).
func (c *h2conn) open(req Request, seq int, out chan<- Exchange) *h2stream {
	c.mu.Lock()
	if c.goAway || c.ended {
		c.mu.Unlock()
		return nil
	}
	id := c.next
	c.next += 2
	s := &h2stream{x: Exchange{Sent: time.Now(), Seq: seq}, out: out, opened: make(chan struct{})}
	c.streams[id] = s
	c.mu.Unlock()

	c.wmu.Lock()
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", req.Method}, {":scheme", c.scheme}, {":authority", c.host}, {":path", req.Path}} {
		c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for _, f := range req.Header {
		c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: len(req.Body) == 0, EndHeaders: true})
	if err == nil && len(req.Body) > 0 {
		err = c.fr.WriteData(id, true, req.Body)
	}
	c.wmu.Unlock()
	if err != nil {
		c.end(id, StepWrite, EndNone, err)
		return s
	}
	// The timeout runs from now: expire's RST_STREAM must follow the
	// HEADERS.
	if req.Timeout > 0 {
		c.mu.Lock()
		if c.streams[id] == s {
			s.timer = time.AfterFunc(req.Timeout, func() { c.expire(id) })
		}
		c.mu.Unlock()
	}
	return s
}

// expire ends a stream not answered within the timeout, and resets it.
func (c *h2conn) expire(id uint32) {
	if c.end(id, StepHeader, EndNone, os.ErrDeadlineExceeded) {
		c.wmu.Lock()
		c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		c.wmu.Unlock()
	}
}

// end ends stream id, failed at step st with err (nil: answered) and e,
// unless it has ended already, and reports whether it did.
func (c *h2conn) end(id uint32, st Step, e End, err error) bool {
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
	s.x.Done, s.x.Step, s.x.End, s.x.Err = time.Now(), st, e, err
	s.out <- s.x
	return true
}

// readLoop reads the server's frames until the connection ends, then ends
// every stream still open: above GOAWAY's last stream if the server said
// it would not process it, its connection lost otherwise.
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
				c.end(se.StreamID, StepHeader, EndNone, se)
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
						s.x.Status, s.headed = st, true
						if !f.StreamEnded() {
							close(s.opened)
						}
					}
					for _, hf := range f.Fields {
						if hf.Name == "grpc-status" {
							s.x.GRPCStatus = hf.Value
						}
					}
				}
				c.mu.Unlock()
				if f.StreamEnded() {
					c.end(f.StreamID, StepHeader, EndNone, nil)
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
					c.end(f.StreamID, StepBody, EndNone, nil)
				}
			case *http2.RSTStreamFrame:
				if f.ErrCode == http2.ErrCodeRefusedStream {
					c.end(f.StreamID, StepHeader, EndRefused, fmt.Errorf("stream reset: %v", f.ErrCode))
				} else {
					c.end(f.StreamID, StepHeader, EndReset, fmt.Errorf("stream reset: %v", f.ErrCode))
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
					c.end(id, StepHeader, EndAboveGoAway, fmt.Errorf("GOAWAY with last stream %d (%v)", f.LastStreamID, f.ErrCode))
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
			c.end(id, StepHeader, EndAboveGoAway, err)
		} else {
			c.end(id, StepHeader, EndConnLost, err)
		}
	}
}

// close closes the connection and waits for the read loop, which ends
// the streams still open.
func (c *h2conn) close() {
	c.nc.Close()
	<-c.done
}
