package wire

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serveH2c serves h with net/http's HTTP/2 server, unencrypted with
// prior knowledge. The server's connections are sent on conns, if not
// nil, while there is room.
func serveH2c(t *testing.T, h http.Handler, conns chan net.Conn) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	if conns != nil {
		srv.Listener = acceptedTo{srv.Listener, conns}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// An h2peer is the server's side of one HTTP/2 connection, spoken frame by
// frame, for what a real server does only by chance of timing.
type h2peer struct {
	nc   net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	henc *hpack.Encoder
}

// serveFrames accepts one connection, reads the client's preface, sends
// empty SETTINGS and calls handle.
func serveFrames(t *testing.T, handle func(p *h2peer)) string {
	t.Helper()
	return serveTCP(t, func(nc net.Conn, br *bufio.Reader) {
		if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		p := &h2peer{nc: nc, fr: http2.NewFramer(nc, br)}
		p.henc = hpack.NewEncoder(&p.hbuf)
		if p.fr.WriteSettings() != nil {
			return
		}
		handle(p)
	})
}

// streams reads frames until n streams have been opened, and returns their ids.
func (p *h2peer) streams(n int) []uint32 {
	var ids []uint32
	for len(ids) < n {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return ids
		}
		if h, ok := f.(*http2.HeadersFrame); ok {
			ids = append(ids, h.StreamID)
		}
	}
	return ids
}

// answer answers stream id with status 200 and no body.
func (p *h2peer) answer(id uint32) {
	p.hbuf.Reset()
	p.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.hbuf.Bytes(), EndStream: true, EndHeaders: true})
}

func dialH2c(t *testing.T, addr string) Session {
	t.Helper()
	s, x := Dialer{Addr: addr, Host: "example.test", HTTP2: true, Timeout: 10 * time.Second}.Dial(context.Background())
	if s == nil {
		t.Fatalf("dial: %+v", x)
	}
	return s
}

// receive returns the n exchanges that come on out, by seq.
func receive(t *testing.T, out <-chan Exchange, n int) map[int]Exchange {
	t.Helper()
	got := map[int]Exchange{}
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case x := <-out:
			got[x.Seq] = x
		case <-timeout:
			t.Fatalf("%d exchanges of %d after 10s: %v", len(got), n, got)
		}
	}
	return got
}

// A stream answered by a real HTTP/2 server has its status, and the
// session sends several on one connection.
func TestH2Answered(t *testing.T) {
	srv := serveH2c(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || r.Host != "example.test" {
			http.Error(w, "not h2 for example.test", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, r.URL.Path)
	}), nil)
	s := dialH2c(t, srv.Listener.Addr().String())
	defer s.Close()
	if c := s.Capacity(1000); c < 1 || c > 1000 {
		t.Errorf("capacity %d, want 1 to 1000", c)
	}
	out := make(chan Exchange, 3)
	for seq := 1; seq <= 3; seq++ {
		if !s.Send(Request{Method: http.MethodGet, Path: "/a"}, seq, out) {
			t.Fatalf("stream %d not sent", seq)
		}
	}
	for seq, x := range receive(t, out, 3) {
		if x.Err != nil || x.Status != http.StatusAccepted || x.End != EndNone || x.Step != StepBody {
			t.Errorf("stream %d: %+v, want 202 and its body", seq, x)
		}
	}
}

// What the server does to streams it does not answer: each is reported
// with how it ended, and after a GOAWAY the session sends no more.
func TestH2Unanswered(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handle    func(p *h2peer) // two streams are open, ids 1 and 3
		want      map[int]End     // by seq: 1 is stream 1, 2 is stream 3; answered is absent
		sendAfter bool
	}{{
		name: "above GOAWAY",
		handle: func(p *h2peer) {
			p.fr.WriteGoAway(1, http2.ErrCodeNo, nil)
			p.answer(1)
			io.Copy(io.Discard, p.nc) // until the client closes
		},
		want: map[int]End{2: EndAboveGoAway},
	}, {
		name: "GOAWAY then close",
		handle: func(p *h2peer) {
			p.fr.WriteGoAway(1, http2.ErrCodeNo, nil)
		},
		want: map[int]End{1: EndConnLost, 2: EndAboveGoAway},
	}, {
		name: "REFUSED_STREAM",
		handle: func(p *h2peer) {
			p.fr.WriteRSTStream(3, http2.ErrCodeRefusedStream)
			p.fr.WriteRSTStream(1, http2.ErrCodeInternal)
			io.Copy(io.Discard, p.nc)
		},
		want:      map[int]End{1: EndReset, 2: EndRefused},
		sendAfter: true,
	}, {
		name:   "cut",
		handle: func(p *h2peer) {},
		want:   map[int]End{1: EndConnLost, 2: EndConnLost},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveFrames(t, func(p *h2peer) {
				if len(p.streams(2)) == 2 {
					tc.handle(p)
				}
			})
			s := dialH2c(t, addr)
			defer s.Close()
			out := make(chan Exchange, 3)
			for seq := 1; seq <= 2; seq++ {
				if !s.Send(Request{Method: http.MethodGet, Path: "/"}, seq, out) {
					t.Fatalf("stream %d not sent", seq)
				}
			}
			for seq, x := range receive(t, out, 2) {
				want, failed := tc.want[seq]
				if failed && (x.End != want || x.Err == nil || x.Status != 0) || !failed && (x.Err != nil || x.Status != http.StatusOK) {
					t.Errorf("stream %d: %+v, want End %v (answered: %v)", seq, x, want, !failed)
				}
			}
			// Once the server went away or the connection ended, the session
			// sends nothing more.
			if sent := s.Send(Request{Method: http.MethodGet, Path: "/"}, 3, out); sent != tc.sendAfter {
				t.Errorf("a third stream sent: %v, want %v", sent, tc.sendAfter)
			}
		})
	}
}

// A stream in flight when the real server's connection is closed
// under it is cut with its connection.
func TestH2ServerClosed(t *testing.T) {
	started := make(chan struct{})
	conns := make(chan net.Conn, 1)
	srv := serveH2c(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}), conns)
	s := dialH2c(t, srv.Listener.Addr().String())
	defer s.Close()
	out := make(chan Exchange, 1)
	s.Send(Request{Method: http.MethodGet, Path: "/slow"}, 1, out)
	<-started
	(<-conns).Close()
	if x := receive(t, out, 1)[1]; x.End != EndConnLost || x.Err == nil {
		t.Errorf("stream %+v, want its connection lost", x)
	}
}

// acceptedTo is a listener that sends each connection it accepts on conns,
// if there is room.
type acceptedTo struct {
	net.Listener
	conns chan net.Conn
}

func (l acceptedTo) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		select {
		case l.conns <- nc:
		default:
		}
	}
	return nc, err
}

// A stream not answered within its timeout fails with the deadline.
func TestH2Timeout(t *testing.T) {
	addr := serveFrames(t, func(p *h2peer) { io.Copy(io.Discard, p.nc) })
	s := dialH2c(t, addr)
	defer s.Close()
	out := make(chan Exchange, 1)
	s.Send(Request{Method: http.MethodGet, Path: "/", Timeout: 100 * time.Millisecond}, 1, out)
	if x := receive(t, out, 1)[1]; x.End != EndNone || x.Step != StepHeader || x.Err == nil {
		t.Errorf("stream %+v, want a deadline exceeded", x)
	}
}
