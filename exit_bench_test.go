package drain

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/netutil"
)

// How a drain ends, side by side with net/http's Shutdown, in process:
//
//	go test -run '^$' -bench 'IdleHTTP2|WrappedListener|Stubborn' -benchtime 20x .
//
// Each iteration builds a server, loads it, drains it and reports the
// median (and the worst) of what it measures as custom metrics.

// shutdownPattern shuts a server down the way each side does: drain's
// HTTP.Shutdown, or the usual net/http pattern, Server.Shutdown with a
// 10 s context.
type shutdownPattern struct {
	name  string
	serve func(srv *http.Server, ln net.Listener, certFile, keyFile string) (shutdown func() error)
}

var shutdownPatterns = []shutdownPattern{
	{"net-http", func(srv *http.Server, ln net.Listener, certFile, keyFile string) func() error {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if certFile != "" {
				srv.ServeTLS(ln, certFile, keyFile)
			} else {
				srv.Serve(ln)
			}
		}()
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := srv.Shutdown(ctx)
			<-done
			return err
		}
	}},
	{"drain", func(srv *http.Server, ln net.Listener, certFile, keyFile string) func() error {
		h := &HTTP{Server: srv, Listener: ln, CertFile: certFile, KeyFile: keyFile, Logger: nopLogger()}
		done := make(chan struct{})
		go func() { defer close(done); h.Serve() }()
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := h.Shutdown(ctx)
			<-done
			return err
		}
	}},
}

// durations collects one measure per iteration.
type durations []time.Duration

// report reports the median and the worst, in milliseconds.
func (d durations) report(b *testing.B, unit string) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2])/1e6, "ms-median-"+unit)
	b.ReportMetric(float64(d[len(d)-1])/1e6, "ms-max-"+unit)
}

// BenchmarkIdleHTTP2Exit: 4 idle HTTP/2 connections of Go clients (which
// do not close a connection on GOAWAY) and one request of 200ms in flight
// at Shutdown; the time from its response to the end of the drain.
func BenchmarkIdleHTTP2Exit(b *testing.B) {
	_, certFile, keyFile := testCert(b)
	for _, proto := range []string{"h2c", "TLS"} {
		for _, p := range shutdownPatterns {
			b.Run(proto+"/"+p.name, func(b *testing.B) {
				var lags durations
				for range b.N {
					lags = append(lags, idleHTTP2Exit(b, p, proto == "TLS", certFile, keyFile))
				}
				lags.report(b, "last-response-to-exit")
			})
		}
	}
}

func idleHTTP2Exit(b *testing.B, p shutdownPattern, useTLS bool, certFile, keyFile string) time.Duration {
	srv := &http.Server{Handler: testMux(), Protocols: new(http.Protocols)}
	client := new(http.Protocols)
	scheme := "http"
	if useTLS {
		srv.Protocols.SetHTTP2(true)
		client.SetHTTP2(true)
		scheme = "https"
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true)
		client.SetUnencryptedHTTP2(true)
		certFile, keyFile = "", ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	base := scheme + "://" + ln.Addr().String()
	shutdown := p.serve(srv, ln, certFile, keyFile)
	get := func(path string) error {
		tr := &http.Transport{Protocols: client, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(base + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	idle := make([]*http.Transport, 4)
	for i := range idle {
		idle[i] = &http.Transport{Protocols: client, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		defer idle[i].CloseIdleConnections()
		resp, err := (&http.Client{Transport: idle[i]}).Get(base + "/fast")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	answered := make(chan time.Time, 1)
	go func() {
		if err := get("/slow?ms=200"); err != nil {
			b.Error(err)
		}
		answered <- time.Now()
	}()
	time.Sleep(50 * time.Millisecond) // the slow request is in flight
	if err := shutdown(); err != nil {
		b.Fatal(err)
	}
	return time.Since(<-answered)
}

// BenchmarkWrappedListenerQueue: a server behind netutil.LimitListener(ln,
// 1), one request of 100ms holding the limit, and 10 clients whose
// connections wait in the kernel's accept queue, each with its request
// sent, when Shutdown begins. It counts the queued requests not answered.
func BenchmarkWrappedListenerQueue(b *testing.B) {
	for _, p := range shutdownPatterns {
		b.Run(p.name, func(b *testing.B) {
			lost := 0
			for range b.N {
				lost += wrappedListenerQueue(b, p)
			}
			b.ReportMetric(float64(lost)/float64(b.N), "queued-lost/op")
		})
	}
}

func wrappedListenerQueue(b *testing.B, p shutdownPattern) (lost int) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	shutdown := p.serve(&http.Server{Handler: testMux()}, netutil.LimitListener(ln, 1), "", "")
	slow, err := dialRaw(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /slow?ms=100 HTTP/1.1\r\nHost: bench\r\n\r\n")
	time.Sleep(20 * time.Millisecond) // accepted, and holding the limit
	queued := make([]*rawClient, 10)
	for i := range queued {
		if queued[i], err = dialRaw(addr); err != nil {
			b.Fatal(err)
		}
		defer queued[i].Close()
		fmt.Fprintf(queued[i], "GET /fast HTTP/1.1\r\nHost: bench\r\n\r\n")
	}
	errc := make(chan error, 1)
	go func() { errc <- shutdown() }()
	for _, c := range queued {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if resp, err := http.ReadResponse(c.br, nil); err != nil {
			lost++
		} else {
			resp.Body.Close()
		}
	}
	<-errc
	return lost
}

// BenchmarkStubbornServer: a Group with Timeout 300ms serves an HTTP
// server with a request that never ends and a Server whose Serve,
// Shutdown and Close never return. It reports when Run returns after the
// signal: within Timeout, then closeWait for the servers it closed (which
// CleanupReserve, 1s by default, covers).
func BenchmarkStubbornServer(b *testing.B) {
	var took durations
	for range b.N {
		stuck := &stubborn{release: make(chan struct{}), calls: make(chan string, 3)}
		mux := testMux()
		mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		h := &HTTP{Server: &http.Server{Handler: mux}, Listener: ln}
		g := &Group{Logger: nopLogger(), Timeout: 300 * time.Millisecond}
		send := fakeSignals(g)
		g.Add(stuck)
		g.Add(h)
		done := make(chan error, 1)
		go func() { done <- g.Run(context.Background()) }()
		c, err := dialRaw(ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(c, "GET /stuck HTTP/1.1\r\nHost: bench\r\n\r\n")
		for h.Stats().Requests == 0 {
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		send(syscall.SIGTERM)
		<-done
		took = append(took, time.Since(start))
		close(stuck.release)
		c.Close()
	}
	took.report(b, "signal-to-return")
}
