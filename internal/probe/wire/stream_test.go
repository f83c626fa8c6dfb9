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

	"github.com/coder/websocket"
)

// health is the server's side of grpc.health.v1.Health as a gRPC server
// puts it on the wire: Check answers SERVING with grpc-status 0, or, with
// status set, a trailers-only response with that grpc-status; Watch sends
// its headers and SERVING, then waits for end to return with
// grpc-status 14 (as a server's GracefulStop leaves it), or for its
// connection to be cut (its Stop).
type health struct {
	status string      // Check's grpc-status if not 0
	bare   bool        // Watch ends without a grpc-status
	got    chan []byte // each request's body
	end    chan struct{}
	conns  chan net.Conn
}

// serving is a HealthCheckResponse with status SERVING, as a gRPC message.
var serving = []byte{0, 0, 0, 0, 2, 0x08, 0x01}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" {
		http.Error(w, "not gRPC", http.StatusUnsupportedMediaType)
		return
	}
	h.got <- body
	w.Header().Set("Content-Type", "application/grpc")
	switch {
	case r.URL.Path == "/grpc.health.v1.Health/Check" && h.status != "":
		w.Header().Set("Grpc-Status", h.status)
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/grpc.health.v1.Health/Check":
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write(serving)
		w.Header().Set("Grpc-Status", "0")
	case r.URL.Path == "/grpc.health.v1.Health/Watch":
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write(serving)
		w.(http.Flusher).Flush()
		select {
		case <-h.end:
			if !h.bare {
				w.Header().Set("Grpc-Status", "14")
			}
		case <-r.Context().Done():
		}
	default:
		w.Header().Set("Grpc-Status", "12") // UNIMPLEMENTED
	}
}

func serveHealth(t *testing.T, status string) (*health, string) {
	t.Helper()
	h := &health{status: status, got: make(chan []byte, 1), end: make(chan struct{}), conns: make(chan net.Conn, 1)}
	return h, serveH2c(t, h, h.conns).Listener.Addr().String()
}

// A health Check is a gRPC call whose result is its grpc-status, from the
// trailers or from a trailers-only response; the request is the standard
// HealthCheckRequest.
func TestHealthCheck(t *testing.T) {
	for _, tc := range []struct {
		name, service, status string
		wantBody              []byte
	}{
		{name: "serving", wantBody: []byte{0, 0, 0, 0, 0}, status: ""},
		{name: "unavailable", service: "svc", wantBody: []byte{0, 0, 0, 0, 5, 0x0a, 3, 's', 'v', 'c'}, status: "14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, addr := serveHealth(t, tc.status)
			s := dialH2c(t, addr)
			defer s.Close()
			out := make(chan Exchange, 1)
			s.Send(HealthRequest("Check", tc.service, 10*time.Second), 1, out)
			x := receive(t, out, 1)[1]
			want := tc.status
			if want == "" {
				want = "0"
			}
			if x.Err != nil || x.Status != http.StatusOK || x.GRPCStatus != want {
				t.Errorf("exchange %+v, want status 200, grpc-status %s", x, want)
			}
			if body := <-h.got; !bytes.Equal(body, tc.wantBody) {
				t.Errorf("request body % x, want % x", body, tc.wantBody)
			}
		})
	}
}

// A Watch stream read until the server ends it: cleanly with its
// trailers (a graceful stop), or cut with its connection (a hard stop).
func TestWatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stop    func(h *health)
		bare    bool
		wantErr bool
	}{
		{name: "graceful", stop: func(h *health) { close(h.end) }},
		{name: "cut", stop: func(h *health) { (<-h.conns).Close() }, wantErr: true},
		{name: "no grpc-status", stop: func(h *health) { close(h.end) }, bare: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, addr := serveHealth(t, "")
			h.bare = tc.bare
			st, x := Dialer{Addr: addr, Host: addr, HTTP2: true, Timeout: 10 * time.Second}.OpenWatch(context.Background(), "")
			if st == nil {
				t.Fatalf("open: %+v", x)
			}
			defer st.Close()
			if x.Err != nil || x.Status != http.StatusOK {
				t.Errorf("opening %+v, want 200", x)
			}
			<-h.got
			tc.stop(h)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := st.Read(ctx); (err != nil) != tc.wantErr || ctx.Err() != nil {
				t.Errorf("Read: %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}

// A Watch answered at once, without opening, is not a stream.
func TestWatchEndedAtOnce(t *testing.T) {
	srv := serveH2c(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Grpc-Status", "12")
	}), nil)
	addr := srv.Listener.Addr().String()
	st, x := Dialer{Addr: addr, Host: addr, HTTP2: true, Timeout: 10 * time.Second}.OpenWatch(context.Background(), "")
	if st != nil || x.Err == nil || x.GRPCStatus != "12" {
		t.Errorf("OpenWatch: %v, %+v; want no stream, grpc-status 12", st, x)
	}
}

// A WebSocket ends cleanly with the server's close frame, whose code Read
// returns, or with an error when its connection is cut.
func TestWebSocket(t *testing.T) {
	for _, tc := range []struct {
		name     string
		end      func(c *websocket.Conn)
		wantCode int
	}{
		{name: "close 1001", end: func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "bye") }, wantCode: 1001},
		{name: "cut", end: func(c *websocket.Conn) { c.CloseNow() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				c.Write(r.Context(), websocket.MessageText, []byte("hello"))
				tc.end(c)
			}))
			defer srv.Close()
			hc := WebSocketClient(10 * time.Second)
			defer hc.CloseIdleConnections()
			addr := srv.Listener.Addr().String()
			st, x := Dialer{Addr: addr, Host: addr, Timeout: 10 * time.Second}.OpenWebSocket(context.Background(), hc, "/ws")
			if st == nil {
				t.Fatalf("open: %+v", x)
			}
			defer st.Close()
			if x.Status != http.StatusSwitchingProtocols {
				t.Errorf("opening status %d, want 101", x.Status)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, err := st.Read(ctx)
			if code != tc.wantCode || (err == nil) != (tc.wantCode != 0) || ctx.Err() != nil {
				t.Errorf("Read: %d, %v; want code %d", code, err, tc.wantCode)
			}
		})
	}
}

// An SSE stream ends cleanly with its body's end, or with an error when
// cut mid-body; a stream refused with a status is not opened.
func TestSSE(t *testing.T) {
	const header = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct {
		name, response string
		wantStatus     int
		wantOpen       bool
		wantErr        bool
	}{
		{name: "clean", response: header + "c\r\ndata: hello\n\r\n0\r\n\r\n", wantStatus: 200, wantOpen: true},
		{name: "cut", response: header + "c\r\ndata: hello\n\r\n", wantStatus: 200, wantOpen: true, wantErr: true},
		{name: "refused", response: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", wantStatus: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveTCP(t, func(nc net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err == nil {
					io.WriteString(nc, tc.response)
					// A clean end lets the client close; a cut does not wait.
					if !tc.wantErr {
						io.Copy(io.Discard, br)
					}
				}
			})
			req := HTTP1RequestWith(http.MethodGet, "/events", addr, "Accept: text/event-stream\r\n")
			st, x := Dialer{Addr: addr, Host: addr, Timeout: 10 * time.Second}.OpenSSE(context.Background(), req)
			if (st != nil) != tc.wantOpen || x.Status != tc.wantStatus || (x.Err == nil) != tc.wantOpen {
				t.Fatalf("OpenSSE: %v, %+v; want open %v, status %d", st, x, tc.wantOpen, tc.wantStatus)
			}
			if st == nil {
				return
			}
			defer st.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := st.Read(ctx); (err != nil) != tc.wantErr || ctx.Err() != nil {
				t.Errorf("Read: %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}
