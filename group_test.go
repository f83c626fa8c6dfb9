package drain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeSignals replaces the group's signal source; send delivers a signal.
func fakeSignals(g *Group) (send func(os.Signal)) {
	ready := make(chan chan<- os.Signal, 1)
	g.notify = func(c chan<- os.Signal, _ ...os.Signal) { ready <- c }
	g.stopNotify = func(chan<- os.Signal) {}
	var c chan<- os.Signal
	return func(sig os.Signal) {
		if c == nil {
			c = <-ready
		}
		c <- sig
	}
}

// runGroup runs g in the background; wait returns Run's result.
func runGroup(t *testing.T, g *Group, ctx context.Context) (wait func() error) {
	t.Helper()
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = g.Run(ctx)
	}()
	return func() error {
		select {
		case <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}
}

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A fakeServer records how the group drives it.
type fakeServer struct {
	name     string
	serveErr error         // returned by Serve at once, if set
	block    chan struct{} // Shutdown waits for it, if set

	mu     sync.Mutex
	calls  []string
	stopc  chan struct{}
	closed bool
}

func newFake(name string) *fakeServer { return &fakeServer{name: name, stopc: make(chan struct{})} }

func (f *fakeServer) String() string { return f.name }

func (f *fakeServer) record(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

func (f *fakeServer) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

func (f *fakeServer) Serve() error {
	f.record("serve")
	if f.serveErr != nil {
		return f.serveErr
	}
	<-f.stopc
	return nil
}

func (f *fakeServer) Shutdown(ctx context.Context) error {
	f.record("shutdown")
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.stop()
	return nil
}

func (f *fakeServer) Close() error {
	f.record("close")
	f.stop()
	return nil
}

func (f *fakeServer) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.stopc)
	}
}

func TestCleanupOrderErrorsAndPanics(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	g := &Group{Logger: log, Signals: []os.Signal{}}
	var order []string
	errB := errors.New("b failed")
	g.Cleanup("a", func(context.Context) error { order = append(order, "a"); return nil })
	g.Cleanup("b", func(context.Context) error { order = append(order, "b"); return errB })
	g.Cleanup("c", func(context.Context) error { order = append(order, "c"); panic("c panicked") })
	g.Cleanup("d", func(context.Context) error { order = append(order, "d"); return nil })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.Run(ctx)
	if got := strings.Join(order, ""); got != "dcba" {
		t.Errorf("cleanup order %q, want dcba", got)
	}
	if !errors.Is(err, errB) {
		t.Errorf("Run: %v; want it to wrap b's error", err)
	}
	var pe *panicError
	if !errors.As(err, &pe) || pe.value != "c panicked" || !strings.Contains(string(pe.stack), "TestCleanupOrderErrorsAndPanics") {
		t.Errorf("Run: %v; want a panicError with c's value and stack", err)
	}
	if ExitCode(err) != 1 {
		t.Errorf("ExitCode = %d, want 1", ExitCode(err))
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		if !strings.Contains(logs(), "cleanup="+name+" duration=") {
			t.Errorf("cleanup %s is not logged with its duration:\n%s", name, logs())
		}
	}
}

func TestCleanupBudget(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	g := &Group{Logger: log, Signals: []os.Signal{}, Timeout: 300 * time.Millisecond, CleanupReserve: 200 * time.Millisecond}
	release := make(chan struct{})
	var stuckDone sync.WaitGroup
	stuckDone.Add(1)
	var deadlines []time.Duration
	var ran []string
	g.Cleanup("last", func(ctx context.Context) error {
		ran = append(ran, "last")
		return ctx.Err()
	})
	g.Cleanup("stuck", func(ctx context.Context) error {
		defer stuckDone.Done()
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, time.Until(d))
		<-release // ignores its context
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := g.Run(ctx)
	took := time.Since(start)
	close(release)
	stuckDone.Wait()

	if took > 5*time.Second {
		t.Errorf("Run took %v with a stuck cleanup; it must abandon it", took)
	}
	if len(deadlines) != 1 || deadlines[0] <= 0 || deadlines[0] > 300*time.Millisecond {
		t.Errorf("cleanup deadline %v, want what is left of the 300ms timeout", deadlines)
	}
	if len(ran) != 1 {
		t.Error("the cleanup after the abandoned one did not run")
	}
	if err == nil || !strings.Contains(err.Error(), `cleanup "stuck": abandoned`) {
		t.Errorf("Run: %v; want the abandoned cleanup reported", err)
	}
	if !strings.Contains(logs(), "cleanup=stuck") {
		t.Errorf("the abandoned cleanup is not logged:\n%s", logs())
	}
}

func TestConfigErrors(t *testing.T) {
	leakcheck(t)
	for _, tc := range []struct {
		name  string
		setup func(*Group)
		want  string
	}{
		{"negative timeout", func(g *Group) { g.Timeout = -time.Second }, "negative Timeout"},
		{"negative reserve", func(g *Group) { g.CleanupReserve = -1 }, "negative CleanupReserve"},
		{"nil signal", func(g *Group) { g.Signals = []os.Signal{nil} }, "signal 0 in Signals is nil"},
		{"nil server", func(g *Group) { g.Add(nil) }, "server 1 is nil"},
		{"nil *HTTP", func(g *Group) { g.Add((*HTTP)(nil)) }, "server 1 is nil (*drain.HTTP)"},
		{"listener without address", func(g *Group) {
			g.Add(&HTTP{Server: &http.Server{Handler: testMux()}, Listener: addrless{}})
		}, "Listener (drain.addrless) has a nil Addr"},
		{"nil HTTP server", func(g *Group) { g.Add(&HTTP{Name: "api"}) }, "server api: Server is nil"},
		{"nil handler", func(g *Group) { g.Add(&HTTP{Name: "api", Server: &http.Server{}}) }, "Server.Handler is nil"},
		{"cleanup without function", func(g *Group) { g.Cleanup("db", nil) }, `cleanup 0 ("db") has no function`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("fake")
			log, logs := testLogger(t)
			g := &Group{Logger: log}
			g.Add(f)
			tc.setup(g)
			err := g.Run(context.Background())
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v; want ErrInvalid saying %q", err, tc.want)
			}
			// os.Exit(drain.ExitCode(g.Run(ctx))) must not exit 1 in silence.
			if logged := strings.ReplaceAll(logs(), `\"`, `"`); !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, tc.want) {
				t.Errorf("the group's logger was not told why Run failed:\n%s", logs())
			}
			if f.Calls() != "" {
				t.Errorf("the group started anyway: %s", f.Calls())
			}
		})
	}
}

func TestRunTwiceAndLateAdd(t *testing.T) {
	leakcheck(t)
	g := &Group{Logger: nopLogger(), Signals: []os.Signal{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Run(ctx); !errors.Is(err, ErrInvalid) {
		t.Errorf("second Run: %v, want ErrInvalid", err)
	}
}

// A cancelled parent context starts a graceful shutdown.
func TestContextStartsShutdown(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: loopback(t)}
	g := &Group{Logger: log, Signals: []os.Signal{}}
	g.Add(h)
	cleaned := false
	g.Cleanup("db", func(context.Context) error { cleaned = true; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)

	c, err := dialRaw(h.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := make(chan error, 1)
	go func() {
		resp, err := c.do("GET", "/slow?ms=300")
		if err == nil && resp.status != 200 {
			err = fmt.Errorf("status %d", resp.status)
		}
		answered <- err
	}()
	waitFor(t, "the request", func() bool { return h.Stats().Requests == 1 })
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := <-answered; err != nil {
		t.Errorf("in-flight request: %v", err)
	}
	if !cleaned {
		t.Error("cleanup did not run")
	}
	if !strings.Contains(logs(), "reason=\"context done\"") {
		t.Errorf("the log does not say why the shutdown began:\n%s", logs())
	}
}

// A server that cannot listen stops the whole group promptly, and the
// error says which server and why.
func TestServerFailsToStart(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	taken := loopback(t)
	defer taken.Close()
	api := &HTTP{Name: "api", Server: &http.Server{Handler: testMux()}, Listener: loopback(t)}
	admin := &HTTP{Name: "admin", Server: &http.Server{Handler: testMux(), Addr: taken.Addr().String()}}
	g := &Group{Logger: log, Signals: []os.Signal{}}
	g.Add(api)
	g.Add(admin)
	cleaned := false
	g.Cleanup("db", func(context.Context) error { cleaned = true; return nil })

	err := runGroup(t, g, context.Background())()
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "server admin") {
		t.Errorf("Run: %v; want EADDRINUSE naming server admin", err)
	}
	if !cleaned {
		t.Error("cleanup did not run")
	}
	if c, err := net.Dial("tcp", api.Listener.Addr().String()); err == nil {
		c.Close()
		t.Error("the other server still listens")
	}
}

func TestServerStoppingEarlyIsAnError(t *testing.T) {
	leakcheck(t)
	f := newFake("worker")
	f.serveErr = nil
	close(f.stopc) // Serve returns nil at once
	f.closed = true
	g := &Group{Logger: nopLogger(), Signals: []os.Signal{}}
	g.Add(f)
	err := runGroup(t, g, context.Background())()
	if err == nil || !strings.Contains(err.Error(), "worker stopped serving before shutdown") {
		t.Errorf("Run: %v", err)
	}
}

// stuckServer serves /stuck, whose handler waits for its context to end.
func stuckServer(t *testing.T) (*HTTP, string) {
	mux := testMux()
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ln := loopback(t)
	return &HTTP{Server: &http.Server{Handler: mux}, Listener: ln}, ln.Addr().String()
}

// sendStuck sends a request to /stuck that stays in flight until forced.
func sendStuck(t *testing.T, h *HTTP, addr string) *rawClient {
	t.Helper()
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /stuck HTTP/1.1\r\nHost: test\r\n\r\n")
	waitFor(t, "the stuck request", func() bool { return h.Stats().Requests == 1 })
	return c
}

func TestTimeoutForcesShutdown(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	h, addr := stuckServer(t)
	g := &Group{Logger: log, Timeout: 300 * time.Millisecond, CleanupReserve: time.Second}
	send := fakeSignals(g)
	g.Add(h)
	var budget time.Duration
	g.Cleanup("db", func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		budget = time.Until(d)
		return nil
	})
	wait := runGroup(t, g, context.Background())
	sendStuck(t, h, addr)
	send(syscall.SIGTERM)
	err := wait()
	if !errors.Is(err, ErrForced) || !strings.Contains(err.Error(), "timeout 300ms expired") {
		t.Errorf("Run: %v; want ErrForced by the timeout", err)
	}
	if ExitCode(err) != 1 {
		t.Errorf("ExitCode = %d, want 1", ExitCode(err))
	}
	if budget < 500*time.Millisecond {
		t.Errorf("cleanup got %v after a forced drain, want about the 1s reserve", budget)
	}
	for _, want := range []string{"signal=terminated", "request still running", "path=/stuck", "drain: shutdown forced"} {
		if !strings.Contains(logs(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs())
		}
	}
}

func TestSecondSignalForces(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	h, addr := stuckServer(t)
	g := &Group{Logger: log, Timeout: time.Minute}
	send := fakeSignals(g)
	g.Add(h)
	cleaned := false
	g.Cleanup("db", func(context.Context) error { cleaned = true; return nil })
	wait := runGroup(t, g, context.Background())
	sendStuck(t, h, addr)
	send(syscall.SIGTERM)
	waitFor(t, "the drain", func() bool { return strings.Contains(logs(), "shutdown began") })
	start := time.Now()
	send(os.Interrupt)
	err := wait()
	if !errors.Is(err, ErrForced) || !strings.Contains(err.Error(), "second signal interrupt") {
		t.Errorf("Run: %v; want ErrForced by the second signal", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Run returned %v after the second signal", took)
	}
	if !cleaned {
		t.Error("cleanup did not run after a forced shutdown")
	}
}

func TestIgnoreSecondSignal(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	h, addr := stuckServer(t)
	g := &Group{Logger: log, Timeout: 500 * time.Millisecond, IgnoreSecondSignal: true}
	send := fakeSignals(g)
	g.Add(h)
	wait := runGroup(t, g, context.Background())
	sendStuck(t, h, addr)
	send(syscall.SIGTERM)
	waitFor(t, "the drain", func() bool { return strings.Contains(logs(), "shutdown began") })
	send(syscall.SIGTERM)
	err := wait()
	if !errors.Is(err, ErrForced) || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Run: %v; want the timeout, not the second signal, to force", err)
	}
	if !strings.Contains(logs(), "signal ignored") {
		t.Errorf("the ignored signal is not logged:\n%s", logs())
	}
}

// A shutdown started by the context is not forced by the first signal,
// only by the next.
func TestSignalAfterContextArmsForce(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	h, addr := stuckServer(t)
	g := &Group{Logger: log, Timeout: time.Minute}
	send := fakeSignals(g)
	g.Add(h)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	sendStuck(t, h, addr)
	cancel()
	waitFor(t, "the drain", func() bool { return strings.Contains(logs(), "shutdown began") })
	send(syscall.SIGTERM)
	waitFor(t, "the signal", func() bool { return strings.Contains(logs(), "another one forces it") })
	send(syscall.SIGTERM)
	if err := wait(); !errors.Is(err, ErrForced) {
		t.Errorf("Run: %v, want ErrForced", err)
	}
}

// Servers drain in parallel, and a server whose drain is done is not
// closed by force when another one is.
func TestServersDrainTogether(t *testing.T) {
	leakcheck(t)
	quick, slow := newFake("quick"), newFake("slow")
	slow.block = make(chan struct{}) // never drains
	g := &Group{Logger: nopLogger(), Signals: []os.Signal{}, Timeout: 200 * time.Millisecond}
	g.Add(quick)
	g.Add(slow)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	waitFor(t, "serving", func() bool { return quick.Calls() == "serve" && slow.Calls() == "serve" })
	cancel()
	if err := wait(); !errors.Is(err, ErrForced) {
		t.Errorf("Run: %v, want ErrForced", err)
	}
	if got := quick.Calls(); got != "serve,shutdown" {
		t.Errorf("quick server: %s", got)
	}
	if got := slow.Calls(); got != "serve,shutdown,close" {
		t.Errorf("slow server: %s", got)
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{ErrForced, 1},
		{fmt.Errorf("drain: cleanup %q: %w", "db", errors.New("x")), 1},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// After a forced drain the cleanup gets CleanupReserve, counted from the
// end of Timeout: Run stays within Timeout + CleanupReserve.
func TestForcedCleanupWithinBound(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h, addr := stuckServer(t)
	g := &Group{Logger: log, Timeout: 200 * time.Millisecond, CleanupReserve: 300 * time.Millisecond}
	send := fakeSignals(g)
	g.Add(h)
	var budget time.Duration
	g.Cleanup("db", func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		budget = time.Until(d)
		return nil
	})
	wait := runGroup(t, g, context.Background())
	sendStuck(t, h, addr)
	start := time.Now()
	send(syscall.SIGTERM)
	if err := wait(); !errors.Is(err, ErrForced) {
		t.Errorf("Run: %v, want ErrForced", err)
	}
	if budget > 300*time.Millisecond || budget <= 0 {
		t.Errorf("cleanup budget %v after a forced drain, want what is left of Timeout + CleanupReserve", budget)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v", took)
	}
}

// A Server of another package that panics does not stop the shutdown: the
// panic becomes an error.
func TestServerPanicRecovered(t *testing.T) {
	leakcheck(t)
	f := &panicky{fakeServer: newFake("panicky")}
	g := &Group{Logger: nopLogger(), Signals: []os.Signal{}}
	g.Add(f)
	cleaned := false
	g.Cleanup("db", func(context.Context) error { cleaned = true; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	waitFor(t, "serving", func() bool { return f.Calls() == "serve" })
	g.Cleanup("late", nil) // registered while serving, so not checked by Run's start
	cancel()
	err := wait()
	var pe *panicError
	if !errors.As(err, &pe) || pe.value != "shutdown exploded" {
		t.Errorf("Run: %v; want the Shutdown panic as a panicError", err)
	}
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `cleanup "late"`) {
		t.Errorf("Run: %v; want the cleanup without a function reported", err)
	}
	if !cleaned {
		t.Error("cleanup did not run after a Server panicked")
	}
}

type panicky struct{ *fakeServer }

func (p *panicky) Shutdown(ctx context.Context) error {
	p.stop()
	panic("shutdown exploded")
}

// A Cleanup call made while the cleanup runs is too late to run, and Run
// says so.
func TestCleanupDuringCleanupReported(t *testing.T) {
	leakcheck(t)
	g := &Group{Logger: nopLogger()}
	g.Add(newFake("web"))
	g.Cleanup("first", func(context.Context) error {
		g.Cleanup("late", func(context.Context) error { return nil })
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	<-g.Happened(Serving)
	cancel()
	err := wait()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `Cleanup("late")`) {
		t.Errorf("Run = %v, want ErrInvalid naming the late cleanup", err)
	}
}

// addrless is a broken listener: its Addr is nil.
type addrless struct{ net.Listener }

func (addrless) Addr() net.Addr { return nil }

// A stubborn server ignores everything: its Serve, Shutdown and Close
// return only when the test ends.
type stubborn struct {
	release chan struct{}
	calls   chan string
}

func newStubborn(t *testing.T) *stubborn {
	s := &stubborn{release: make(chan struct{}), calls: make(chan string, 3)}
	t.Cleanup(func() { close(s.release) }) // before leakcheck's check
	return s
}

func (s *stubborn) String() string { return "stubborn" }
func (s *stubborn) Serve() error   { s.calls <- "serve"; <-s.release; return nil }
func (s *stubborn) Close() error   { s.calls <- "close"; <-s.release; return nil }
func (s *stubborn) Shutdown(context.Context) error {
	s.calls <- "shutdown"
	<-s.release
	return nil
}

// Whatever a server, a cleanup function and a readiness check do, Run
// keeps its bound: at the deadline each unfinished server is closed on
// its own, a server whose calls do not return is abandoned and named, and
// stuck user code does not hold Run.
func TestBoundHoldsWhateverServersDo(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	stuck := newStubborn(t)
	h, addr := stuckServer(t)
	g := &Group{Logger: log, Timeout: 300 * time.Millisecond, CleanupReserve: 200 * time.Millisecond}
	send := fakeSignals(g)
	g.Add(stuck)
	g.Add(h)
	release := stuck.release
	g.Cleanup("stuck", func(context.Context) error { <-release; return nil })
	checking := make(chan struct{})
	g.Health().AddCheck("stuck", func(context.Context) error { close(checking); <-release; return nil })
	wait := runGroup(t, g, context.Background())
	sendStuck(t, h, addr)
	go probeHealth(t, g.Health().Readyz(), "GET", "/readyz")
	<-checking
	start := time.Now()
	send(syscall.SIGTERM)
	err := wait()
	took := time.Since(start)

	if !errors.Is(err, ErrForced) || !strings.Contains(err.Error(), "server stubborn abandoned: Serve, Shutdown, Close still running") {
		t.Errorf("Run: %v; want ErrForced naming the abandoned server and its calls", err)
	}
	if !strings.Contains(err.Error(), `cleanup "stuck": abandoned`) {
		t.Errorf("Run: %v; want the stuck cleanup abandoned", err)
	}
	// Timeout, then the wait for the closed servers (it covers the
	// reserve here), the stuck cleanup's and the check's 50ms each.
	if bound := 300*time.Millisecond + closeWait + 2*cleanupLinger; took > bound+3*time.Second {
		t.Errorf("Run took %v, far past its bound of %v", took, bound)
	}
	for _, want := range []string{"server abandoned, still running", "server=stubborn", "request still running at forced close", "remote=127.0.0.1:"} {
		if !strings.Contains(logs(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs())
		}
	}
	if s := h.Stats(); s.ForcedRequests != 1 {
		t.Errorf("the HTTP server was not closed while the stubborn one hung: %+v", s)
	}
}
