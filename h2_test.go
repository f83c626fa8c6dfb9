package drain

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testCert returns a self-signed certificate for 127.0.0.1, and the paths
// of its PEM files.
func testCert(t testing.TB) (cert tls.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "drain test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

// An h2Client speaks raw HTTP/2 frames, to see exactly what the server
// sends: GOAWAY, and each stream's response.
type h2Client struct {
	t      *testing.T
	nc     net.Conn
	fr     *http2.Framer
	scheme string
	next   uint32 // next stream ID
}

// startH2C serves handler over h2c on a loopback port, and connects an
// HTTP/2 client to it.
func startH2C(t *testing.T, handler http.Handler, log *slog.Logger) (*HTTP, *h2Client) {
	t.Helper()
	srv := &http.Server{Handler: handler, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	h := &HTTP{Server: srv, Logger: log}
	addr, _ := startHTTP(t, h)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return h, newH2Client(t, nc, "http")
}

func newH2Client(t *testing.T, nc net.Conn, scheme string) *h2Client {
	t.Helper()
	if _, err := nc.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	c := &h2Client{t: t, nc: nc, fr: http2.NewFramer(nc, nc), scheme: scheme, next: 1}
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *h2Client) get(path string) uint32 {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", c.scheme}, {":authority", "test"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := c.next
	c.next += 2
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// h2Events is what the server sent until it closed the connection.
type h2Events struct {
	goAway      *http2.GoAwayFrame
	goAwayFirst bool              // GOAWAY came before the streams ended
	ended       map[uint32]string // stream ID -> body, for streams that ended
	err         error             // what ended the connection
}

// readAll reads frames until the connection ends.
func (c *h2Client) readAll() h2Events {
	ev := h2Events{ended: map[uint32]string{}}
	bodies := map[uint32]*bytes.Buffer{}
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			ev.err = err
			return ev
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			ev.goAway = f
			ev.goAwayFirst = len(ev.ended) == 0
		case *http2.HeadersFrame:
			if bodies[f.StreamID] == nil {
				bodies[f.StreamID] = new(bytes.Buffer)
			}
			if f.StreamEnded() {
				ev.ended[f.StreamID] = bodies[f.StreamID].String()
			}
		case *http2.DataFrame:
			if bodies[f.StreamID] == nil {
				bodies[f.StreamID] = new(bytes.Buffer)
			}
			bodies[f.StreamID].Write(f.Data())
			if f.StreamEnded() {
				ev.ended[f.StreamID] = bodies[f.StreamID].String()
			}
		}
	}
}

func TestHTTP2GoAway(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{
		{"TLS", true},
		{"h2c", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck(t)
			log, _ := testLogger(t)
			srv := &http.Server{Handler: testMux()}
			h := &HTTP{Server: srv, Logger: log}
			scheme := "http"
			if tc.tls {
				_, h.CertFile, h.KeyFile = testCert(t)
				scheme = "https"
			} else {
				srv.Protocols = new(http.Protocols)
				srv.Protocols.SetHTTP1(true)
				srv.Protocols.SetUnencryptedHTTP2(true)
			}
			addr, served := startHTTP(t, h)

			dial := func() net.Conn {
				if !tc.tls {
					nc, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					return nc
				}
				nc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err != nil {
					t.Fatal(err)
				}
				if p := nc.ConnectionState().NegotiatedProtocol; p != "h2" {
					t.Fatalf("negotiated %q, want h2", p)
				}
				return nc
			}
			busyConn, idleConn := dial(), dial()
			defer busyConn.Close()
			defer idleConn.Close()
			busy := newH2Client(t, busyConn, scheme)
			idle := newH2Client(t, idleConn, scheme)
			id := busy.get("/slow?ms=300")
			waitFor(t, "the HTTP/2 request and connections", func() bool {
				s := h.Stats()
				return s.Requests == 1 && s.HTTP2 == 2
			})

			busyEv, idleEv := make(chan h2Events, 1), make(chan h2Events, 1)
			go func() { busyEv <- busy.readAll() }()
			go func() { idleEv <- idle.readAll() }()
			if _, err := shutdown(t, h); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := served(); err != nil {
				t.Errorf("Serve: %v", err)
			}

			ev := <-busyEv
			if ev.goAway == nil || ev.goAway.ErrCode != http2.ErrCodeNo {
				t.Errorf("busy connection: GOAWAY %v, want one with NO_ERROR", ev.goAway)
			} else if !ev.goAwayFirst {
				t.Error("busy connection: GOAWAY came after the stream in flight ended, want before")
			}
			if body, ok := ev.ended[id]; !ok || body != "slow\n" {
				t.Errorf("stream in flight: ended=%v body %q; want it to finish", ok, body)
			}
			if ev := <-idleEv; ev.goAway == nil || ev.goAway.ErrCode != http2.ErrCodeNo {
				t.Errorf("idle connection: GOAWAY %v, want one with NO_ERROR", ev.goAway)
			}
		})
	}
}

// A server whose certificate files are missing fails to serve, with an
// error that says why.
func TestTLSBadCertFiles(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.Listener = ln
	err = h.Serve()
	t.Log(err)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Serve: %v, want a missing-file error", err)
	}
	if _, err := shutdown(t, h); err != nil {
		t.Errorf("Shutdown after a failed Serve: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener is still open after Serve failed")
	}
}

// A handler that outlives its HTTP/2 stream or connection (the client
// cancelled or went away) still holds the drain: main must not exit under
// it.
func TestHTTP2HandlerOutlivingItsStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		quit func(c *h2Client, id uint32)
	}{
		{"connection closed", func(c *h2Client, id uint32) { c.nc.Close() }},
		{"stream reset", func(c *h2Client, id uint32) { c.fr.WriteRSTStream(id, http2.ErrCodeCancel) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck(t)
			log, _ := testLogger(t)
			started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
				defer close(finished)
				close(started)
				<-release // a write that ignores the request's context
			})
			h, c := startH2C(t, mux, log)
			id := c.get("/work")
			<-started
			tc.quit(c, id)
			read := make(chan struct{})
			go func() { defer close(read); c.readAll() }()

			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown with a handler still running returned %v", err)
			}
			if n := h.Stats().Requests; n != 1 {
				t.Errorf("Stats().Requests = %d, want the handler still running", n)
			}
			close(release)
			<-finished
			if _, err := shutdown(t, h); err != nil {
				t.Errorf("Shutdown once the handler returned: %v", err)
			}
			c.nc.Close()
			<-read
		})
	}
}

// An idle HTTP/2 connection is told to go away, not closed under its
// client, while an HTTP/1 request keeps the drain going.
func TestIdleHTTP2GoesAwayWhileHTTP1Drains(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, IdleGrace: time.Millisecond}
	_, h.CertFile, h.KeyFile = testCert(t)
	addr, _ := startHTTP(t, h)

	nc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	idle := newH2Client(t, nc, "https")
	h1, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h1.Close()
	io.WriteString(h1, "GET /slow?ms=500 HTTP/1.1\r\nHost: test\r\n\r\n")
	waitFor(t, "an HTTP/1 request and an idle HTTP/2 connection", func() bool {
		s := h.Stats()
		return s.Requests == 1 && s.HTTP2 == 1 && s.Idle == 1
	})
	events := make(chan h2Events, 1)
	go func() { events <- idle.readAll() }()
	if _, err := shutdown(t, h); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if ev := <-events; ev.goAway == nil || ev.goAway.ErrCode != http2.ErrCodeNo {
		t.Errorf("idle HTTP/2 connection ended with %v, no GOAWAY", ev.err)
	}
}

// During a shutdown delay (PrepareShutdown), an HTTP/2 client is told to
// go away after its stream is answered, while the server still serves.
func TestHTTP2GoAwayDuringDelay(t *testing.T) {
	leakcheck(t)
	h, c := startH2C(t, testMux(), nopLogger())
	waitFor(t, "the HTTP/2 connection", func() bool { return h.Stats().HTTP2 == 1 })

	h.PrepareShutdown()
	id := c.get("/fast")
	ev := c.readAll() // until the server closes the connection it sent away
	if body, ok := ev.ended[id]; !ok || body != "fast\n" {
		t.Errorf("the stream: ended=%v body %q; want fast", ok, body)
	}
	if ev.goAway == nil || ev.goAway.ErrCode != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v, want one with NO_ERROR", ev.goAway)
	}
	if isClosed(h.NotAccepting()) {
		t.Error("the server stopped accepting during the delay")
	}
}

// Idle HTTP/2 connections of real clients (Go's, which do not close a
// connection on GOAWAY) do not hold the drain: each is closed once it has
// been sent GOAWAY and has no stream open, instead of the second net/http
// waits for the client to close it. The request in flight is answered in
// full.
func TestIdleHTTP2DoesNotHoldExit(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"TLS", true}, {"h2c", false}} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck(t)
			log, _ := testLogger(t)
			srv := &http.Server{Handler: testMux(), Protocols: new(http.Protocols)}
			srv.Protocols.SetHTTP1(true)
			h := &HTTP{Server: srv, Logger: log}
			client := new(http.Protocols)
			scheme := "http"
			if tc.tls {
				_, h.CertFile, h.KeyFile = testCert(t)
				srv.Protocols.SetHTTP2(true)
				client.SetHTTP2(true)
				scheme = "https"
			} else {
				srv.Protocols.SetUnencryptedHTTP2(true)
				client.SetUnencryptedHTTP2(true)
			}
			addr, served := startHTTP(t, h)
			base := scheme + "://" + addr
			newClient := func() *http.Client {
				tr := &http.Transport{Protocols: client, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
				t.Cleanup(tr.CloseIdleConnections)
				return &http.Client{Transport: tr, Timeout: 20 * time.Second}
			}
			get := func(c *http.Client, path string) error {
				resp, err := c.Get(base + path)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				switch {
				case err != nil:
					return err
				case resp.ProtoMajor != 2:
					return fmt.Errorf("%s: want HTTP/2", resp.Proto)
				case resp.StatusCode != http.StatusOK || len(body) == 0:
					return fmt.Errorf("%d %q", resp.StatusCode, body)
				}
				return nil
			}
			const idle = 4
			for range idle { // one connection each, then idle
				if err := get(newClient(), "/fast"); err != nil {
					t.Fatal(err)
				}
			}
			slow := newClient()
			answered := make(chan time.Time, 1)
			go func() {
				if err := get(slow, "/slow?ms=300"); err != nil {
					t.Errorf("the request in flight: %v", err)
				}
				answered <- time.Now()
			}()
			waitFor(t, "the connections", func() bool {
				s := h.Stats()
				return s.HTTP2 == idle+1 && s.Requests == 1
			})
			if _, err := shutdown(t, h); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			done := time.Now()
			if err := served(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			last := <-answered
			// net/http alone closes them a second after its GOAWAY; the
			// drain, about a millisecond after the last response.
			if lag := done.Sub(last); lag > 700*time.Millisecond {
				t.Errorf("the drain ended %v after the last response: idle HTTP/2 connections held it", lag)
			}
		})
	}
}

// Under load (HTTP/2 clients sending requests back to back on shared
// connections, as h2load does), every request the server began to serve is
// answered in full: the drain closes an HTTP/2 connection only once it has
// no stream open and its GOAWAY is sent. Requests the clients send later
// are refused or retried elsewhere, never cut.
func TestHTTP2LoadNothingCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"TLS", true}, {"h2c", false}} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck(t)
			var began atomic.Int64
			mux := http.NewServeMux()
			mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
				began.Add(1)
				time.Sleep(time.Duration(mrand.IntN(3)) * time.Millisecond)
				io.WriteString(w, strings.Repeat("x", 100+mrand.IntN(20000)))
			})
			srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
			h := &HTTP{Server: srv, Logger: nopLogger()}
			client := new(http.Protocols)
			scheme := "http"
			if tc.tls {
				_, h.CertFile, h.KeyFile = testCert(t)
				srv.Protocols.SetHTTP2(true)
				client.SetHTTP2(true)
				scheme = "https"
			} else {
				srv.Protocols.SetUnencryptedHTTP2(true)
				client.SetUnencryptedHTTP2(true)
			}
			addr, served := startHTTP(t, h)
			url := scheme + "://" + addr + "/work"

			var answered, failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 { // connections
				tr := &http.Transport{Protocols: client, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
				for range 8 { // streams on each
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							resp, err := c.Get(url)
							if err != nil {
								failed.Add(1)
								if isRefused(err) {
									return // the listener has closed
								}
								t.Logf("request: %v", err)
								continue
							}
							body, err := io.ReadAll(resp.Body)
							resp.Body.Close()
							if err != nil || resp.StatusCode != http.StatusOK || len(body) < 100 {
								t.Logf("response: %d, %d bytes, %v", resp.StatusCode, len(body), err)
								failed.Add(1)
								continue
							}
							answered.Add(1)
						}
					})
				}
			}
			waitFor(t, "load", func() bool { return answered.Load() > 200 })
			if _, err := shutdown(t, h); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := served(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			close(stop)
			wg.Wait()
			if a, b := answered.Load(), began.Load(); a != b {
				t.Errorf("the server began %d requests and %d were answered in full (%d client errors): the drain cut %d", b, a, failed.Load(), b-a)
			}
		})
	}
}

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
