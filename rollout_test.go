package drain

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// get does one request on a new connection and returns the response
// with its body read.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp, string(body)
}

// During the shutdown delay readiness fails, liveness holds, and the
// server serves on, old and new connections alike, telling every client
// to close; then it drains, and the events happen in order.
func TestShutdownDelay(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	const delay = 3 * time.Second
	g := &Group{Logger: log, ShutdownDelay: delay, Timeout: 20 * time.Second}
	send := fakeSignals(g)
	mux := testMux()
	g.Health().Mount(mux)
	ln := loopback(t)
	g.Add(&HTTP{Server: &http.Server{Handler: mux}, Listener: ln})
	cleaned := make(chan struct{})
	g.Cleanup("db", func(context.Context) error { close(cleaned); return nil })
	base := "http://" + ln.Addr().String()

	if !g.When(Serving).IsZero() {
		t.Error("When(Serving) reports a time before Run")
	}
	wait := runGroup(t, g, context.Background())
	<-g.Happened(Serving)
	if resp, body := get(t, base+"/readyz"); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz while serving: %d %q, want 200 ok", resp.StatusCode, body)
	}
	keep, err := dialRaw(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	if r, err := keep.do("GET", "/fast"); err != nil || r.close {
		t.Fatalf("keep-alive request before the signal: %+v, %v", r, err)
	}

	send(syscall.SIGTERM)
	<-g.Happened(ShutdownInitiated)
	resp, body := get(t, base+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "[-]shutdown failed: shutting down") {
		t.Errorf("/readyz during the delay: %d %q, want 503 and the shutdown check failing", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/livez"); resp.StatusCode != http.StatusOK {
		t.Errorf("/livez during the delay: %d, want 200", resp.StatusCode)
	}
	r, err := keep.do("GET", "/fast")
	if err != nil || r.status != http.StatusOK || !r.close {
		t.Errorf("keep-alive request during the delay: %+v, %v; want 200 with Connection: close", r, err)
	}
	fresh, err := dialRaw(ln.Addr().String())
	if err != nil {
		t.Fatalf("a new connection during the delay: %v", err)
	}
	defer fresh.Close()
	if r, err := fresh.do("GET", "/fast"); err != nil || r.status != http.StatusOK || !r.close {
		t.Errorf("new connection during the delay: %+v, %v; want 200 with Connection: close", r, err)
	}
	during := time.Now()
	select {
	case <-g.Happened(DelayElapsed):
		t.Fatalf("the delay of %v elapsed before the checks made within it", delay)
	default:
	}

	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	<-cleaned
	if g.When(CleanupDone).IsZero() {
		t.Errorf("no time for %v after Run", CleanupDone)
	}
	var prev time.Time
	for e := Serving; e <= CleanupDone; e++ {
		at := g.When(e)
		if at.IsZero() || at.Before(prev) {
			t.Errorf("event %v at %v, after %v: want every event, in order", e, at, prev)
		}
		prev = at
		if !isClosed(g.Happened(e)) {
			t.Errorf("Done(%v) is not closed", e)
		}
		if !strings.Contains(logs(), "event="+e.String()) {
			t.Errorf("no log of event %v", e)
		}
	}
	if got := g.When(DelayElapsed).Sub(g.When(ShutdownInitiated)); got < delay {
		t.Errorf("the delay lasted %v, want %v", got, delay)
	}
	if !g.When(DelayElapsed).After(during) {
		t.Error("the drain began before the checks made during the delay")
	}
	if !strings.Contains(logs(), `msg="drain: cleanup ran" cleanup=db`) {
		t.Errorf("no log of the db cleanup running without error:\n%s", logs())
	}
}

// A second signal ends the delay and forces the shutdown: a request in
// flight is cut, and Run returns long before the delay would have ended.
func TestSecondSignalEndsDelay(t *testing.T) {
	leakcheck(t)
	mux, entered, release := holdMux()
	defer close(release) // the cut handler returns, for the leak check
	g := &Group{Logger: nopLogger(), ShutdownDelay: time.Minute, Timeout: 2 * time.Minute}
	send := fakeSignals(g)
	ln := loopback(t)
	g.Add(&HTTP{Server: &http.Server{Handler: mux}, Listener: ln})
	start := time.Now()
	wait := runGroup(t, g, context.Background())
	<-g.Happened(Serving)
	go http.Get("http://" + ln.Addr().String() + "/hold") // cut: its error is expected
	<-entered
	send(syscall.SIGTERM)
	<-g.Happened(ShutdownInitiated)
	send(syscall.SIGTERM)
	err := wait()
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Run took %v after a second signal during a 1 minute delay", took)
	}
	if !errors.Is(err, ErrForced) {
		t.Errorf("Run = %v, want ErrForced", err)
	}
}

// A server that fails during the delay ends it: the group drains at once.
func TestServerFailingEndsDelay(t *testing.T) {
	leakcheck(t)
	g := &Group{Logger: nopLogger(), ShutdownDelay: time.Minute, Timeout: 2 * time.Minute}
	send := fakeSignals(g)
	f := newFake("worker")
	g.Add(f)
	wait := runGroup(t, g, context.Background())
	send(syscall.SIGTERM)
	<-g.Happened(ShutdownInitiated)
	f.stop() // Serve returns before Shutdown: a failure
	start := time.Now()
	err := wait()
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Run took %v after a server failed during a 1 minute delay", took)
	}
	if err == nil || !strings.Contains(err.Error(), "stopped serving before shutdown") {
		t.Errorf("Run = %v, want the failure", err)
	}
}

// holdMux is testMux with /hold, which signals entered once it is called
// and answers "held" when release is closed. It serves one request.
func holdMux() (mux *http.ServeMux, entered <-chan struct{}, release chan struct{}) {
	in := make(chan struct{})
	release = make(chan struct{})
	mux = testMux()
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		close(in)
		<-release
		io.WriteString(w, "held\n")
	})
	return mux, in, release
}

// In retry-after mode the listener stays open while a request is in
// flight: new requests are answered 503 with Retry-After, health
// endpoints are served, and the listener closes once the request ends.
func TestRetryAfter(t *testing.T) {
	leakcheck(t)
	mux, entered, release := holdMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: nopLogger(),
		RetryAfter: &RetryAfter{Status: http.StatusTooManyRequests, After: 1500 * time.Millisecond}}
	addr, served := startHTTP(t, h)
	base := "http://" + addr

	held := make(chan rawResponse, 1)
	go func() {
		c, err := dialRaw(addr)
		if err != nil {
			held <- rawResponse{body: err.Error()}
			return
		}
		defer c.Close()
		r, err := c.do("GET", "/hold")
		if err != nil {
			r.body = err.Error()
		}
		held <- r
	}()
	<-entered
	shut := make(chan error, 1)
	go func() {
		_, err := shutdown(t, h)
		shut <- err
	}()
	waitFor(t, "retry-after mode", func() bool { return h.t.respMode() == rejecting })

	resp, body := get(t, base+"/fast")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" || !resp.Close {
		t.Errorf("new request while draining: %d, Retry-After %q, close %v (%q); want 429, 2, true",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body)
	}
	if resp, _ := get(t, base+"/readyz"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "" {
		t.Errorf("/readyz while draining: %d, Retry-After %q; want the handler's own 503", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if isClosed(h.NotAccepting()) {
		t.Error("the listener closed while a request was in flight")
	}

	close(release)
	if r := <-held; r.status != http.StatusOK || r.body != "held\n" || !r.close {
		t.Errorf("the request in flight: %+v, want 200 held with Connection: close", r)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if !isClosed(h.NotAccepting()) {
		t.Error("StoppedAccepting is not closed after the drain")
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestRetryAfterExempt(t *testing.T) {
	for path, want := range map[string]bool{
		"/livez": true, "/readyz": true, "/healthz": true, "/readyz/db": true,
		"/": false, "/fast": false, "/readyzz": false, "/api/readyz": false,
	} {
		r := &http.Request{URL: mustURL(t, path)}
		if got := (&RetryAfter{}).exempt(r); got != want {
			t.Errorf("exempt(%s) = %v, want %v", path, got, want)
		}
	}
	custom := &RetryAfter{Exempt: func(r *http.Request) bool { return r.URL.Path == "/metrics" }}
	if !custom.exempt(&http.Request{URL: mustURL(t, "/metrics")}) || custom.exempt(&http.Request{URL: mustURL(t, "/livez")}) {
		t.Error("a custom Exempt is not what decides")
	}
}

func TestRolloutConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    *Group
		want string
	}{
		{"delay longer than timeout", &Group{ShutdownDelay: 10 * time.Second}, "not shorter than Timeout"},
		{"negative delay", &Group{ShutdownDelay: -time.Second}, "negative ShutdownDelay"},
		{"retry status", func() *Group {
			g := &Group{}
			g.Add(&HTTP{Server: &http.Server{Handler: testMux()}, RetryAfter: &RetryAfter{Status: 200}})
			return g
		}(), "not 4xx or 5xx"},
		{"check name", func() *Group {
			g := &Group{}
			g.Health().AddCheck("data base", func(context.Context) error { return nil })
			return g
		}(), "use letters"},
		{"duplicate check", func() *Group {
			g := &Group{}
			g.Health().AddCheck("db", func(context.Context) error { return nil })
			g.Health().AddCheck("db", func(context.Context) error { return nil })
			return g
		}(), `two checks named "db"`},
		{"reserved check", func() *Group {
			g := &Group{}
			g.Health().AddCheck("shutdown", func(context.Context) error { return nil })
			return g
		}(), "reserved"},
		{"nil check", func() *Group {
			g := &Group{}
			g.Health().AddCheck("db", nil)
			return g
		}(), "no function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.g.Logger = nopLogger()
			err := tc.g.Run(context.Background())
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// In retry-after mode, a hijacked connection that its handler closes
// when told of the drain ends the wait for requests in flight: the
// handler outlives its connection by a moment, and that must wake the
// drain.
func TestRetryAfterHijacked(t *testing.T) {
	leakcheck(t)
	hijacked := make(chan struct{})
	mux := testMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		close(hijacked)
		<-Draining(r.Context())
		nc.Close()
		time.Sleep(10 * time.Millisecond) // the handler returns after its conn closed
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: nopLogger(), RetryAfter: &RetryAfter{}}
	addr, served := startHTTP(t, h)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-hijacked
	took, err := shutdown(t, h)
	if err != nil || took > 10*time.Second {
		t.Errorf("Shutdown took %v: %v; want a prompt nil", took, err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A group with a shutdown delay and retry-after: during the delay
// requests are served; after it, a request in flight holds the listener
// open and new requests are told to retry; then everything ends cleanly
// and every event is logged.
func TestGroupDelayThenRetryAfter(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	mux, entered, release := holdMux()
	g := &Group{Logger: log, ShutdownDelay: 200 * time.Millisecond, Timeout: 30 * time.Second}
	send := fakeSignals(g)
	ln := loopback(t)
	g.Add(&HTTP{Server: &http.Server{Handler: mux}, Listener: ln, RetryAfter: &RetryAfter{}})
	base := "http://" + ln.Addr().String()
	wait := runGroup(t, g, context.Background())
	<-g.Happened(Serving)

	held := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/hold")
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	<-entered
	send(syscall.SIGTERM)
	<-g.Happened(DelayElapsed)
	waitFor(t, "retry-after mode", func() bool {
		resp, _ := get(t, base+"/fast")
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "1"
	})
	select {
	case <-g.Happened(StoppedAccepting):
		t.Error("stopped accepting while a request was in flight")
	default:
	}
	close(release)
	if code := <-held; code != http.StatusOK {
		t.Errorf("the request in flight: %d, want 200", code)
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for e := Serving; e <= CleanupDone; e++ {
		if !strings.Contains(logs(), "event="+e.String()) {
			t.Errorf("no log of event %v", e)
		}
	}
}

// PrepareShutdown before Serve applies once Serve starts; NotAccepting's
// channel is the same before and after, closed only when the listener is.
func TestPrepareBeforeServe(t *testing.T) {
	leakcheck(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: nopLogger()}
	h.PrepareShutdown()
	notAccepting := h.NotAccepting()
	addr, _ := startHTTP(t, h)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.do("GET", "/fast"); err != nil || r.status != http.StatusOK || !r.close {
		t.Errorf("a request after PrepareShutdown: %+v, %v; want 200 with Connection: close", r, err)
	}
	if isClosed(notAccepting) {
		t.Error("NotAccepting is closed while the server listens")
	}
	if _, err := shutdown(t, h); err != nil {
		t.Fatal(err)
	}
	if !isClosed(notAccepting) {
		t.Error("NotAccepting is not closed after the drain")
	}
}

// The hard bound covers the delay and the drain together: a request that
// never ends is cut Timeout after the signal, not ShutdownDelay + Timeout.
func TestTimeoutCoversDelay(t *testing.T) {
	leakcheck(t)
	mux, entered, release := holdMux()
	defer close(release)
	const delay, timeout = 2 * time.Second, 3 * time.Second
	g := &Group{Logger: nopLogger(), ShutdownDelay: delay, Timeout: timeout, CleanupReserve: 100 * time.Millisecond}
	send := fakeSignals(g)
	ln := loopback(t)
	g.Add(&HTTP{Server: &http.Server{Handler: mux}, Listener: ln})
	wait := runGroup(t, g, context.Background())
	<-g.Happened(Serving)
	go http.Get("http://" + ln.Addr().String() + "/hold") // cut: its error is expected
	<-entered
	send(syscall.SIGTERM)
	if err := wait(); !errors.Is(err, ErrForced) {
		t.Errorf("Run = %v, want ErrForced", err)
	}
	took := g.When(Drained).Sub(g.When(ShutdownInitiated))
	if took < timeout || took >= delay+timeout {
		t.Errorf("forced %v after the signal; want Timeout (%v), well before delay + Timeout (%v)", took, timeout, delay+timeout)
	}
}

// A preparer records PrepareShutdown.
type preparer struct {
	*fakeServer
	prepared chan struct{}
}

func (p *preparer) PrepareShutdown() { close(p.prepared) }

// Servers are prepared for a shutdown only when there is a delay to
// prepare for: without one, telling clients to reconnect before the
// listener closes would send them into its closing.
func TestPrepareOnlyWithDelay(t *testing.T) {
	leakcheck(t)
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		p := &preparer{fakeServer: newFake("web"), prepared: make(chan struct{})}
		g := &Group{Logger: nopLogger(), ShutdownDelay: delay}
		g.Add(p)
		ctx, cancel := context.WithCancel(context.Background())
		wait := runGroup(t, g, ctx)
		<-g.Happened(Serving)
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if got, want := isClosed(p.prepared), delay > 0; got != want {
			t.Errorf("delay %v: prepared %v, want %v", delay, got, want)
		}
	}
}
