package drain

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// probeHealth asks h's handler for path and returns the status and body.
func probeHealth(t *testing.T, h http.Handler, method, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Code, rec.Body.String()
}

// serveHealth runs g with its health endpoints on a loopback server, and
// returns the mux with them, a function that starts the shutdown, and one
// that waits for Run.
func serveHealth(t *testing.T, g *Group) (mux *http.ServeMux, stop func(), wait func() error) {
	t.Helper()
	mux = http.NewServeMux()
	g.Health().Mount(mux)
	g.Add(&HTTP{Server: &http.Server{Handler: mux}, Listener: loopback(t)})
	ctx, cancel := context.WithCancel(context.Background())
	wait = runGroup(t, g, ctx)
	<-g.Happened(Serving)
	return mux, cancel, wait
}

func TestReadyzChecks(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	g := &Group{Logger: log}
	h := g.Health()
	dbErr := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	var dbDown bool
	h.AddCheck("db", func(ctx context.Context) error {
		if dbDown {
			return dbErr
		}
		return nil
	})
	h.AddCheck("cache", func(ctx context.Context) error { return nil })

	// Before Run, nothing is ready.
	if code, body := probeHealth(t, h.Readyz(), "GET", "/readyz"); code != 503 || !strings.Contains(body, "[-]shutdown failed: not serving yet") {
		t.Errorf("before Run: %d %q", code, body)
	}

	mux, stop, wait := serveHealth(t, g)
	if code, body := probeHealth(t, mux, "GET", "/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("ready: %d %q, want 200 ok", code, body)
	}
	want := "[+]shutdown ok\n[+]db ok\n[+]cache ok\nreadyz check passed\n"
	if code, body := probeHealth(t, mux, "GET", "/readyz?verbose"); code != 200 || body != want {
		t.Errorf("verbose: %d %q, want %q", code, body, want)
	}

	dbDown = true
	code, body := probeHealth(t, mux, "GET", "/readyz")
	if code != 503 || !strings.Contains(body, "[-]db failed: reason withheld\n") || strings.Contains(body, "10.0.0.7") {
		t.Errorf("a failing check: %d %q; want 503, the reason withheld", code, body)
	}
	if !strings.Contains(logs(), "readiness check failing") || !strings.Contains(logs(), "10.0.0.7") {
		t.Error("the failure and its error are not logged")
	}
	probeHealth(t, mux, "GET", "/readyz") // still failing: not logged again
	if n := strings.Count(logs(), "readiness check failing"); n != 1 {
		t.Errorf("the failure is logged %d times, want once", n)
	}
	if code, body := probeHealth(t, mux, "GET", "/readyz?exclude=db"); code != 200 {
		t.Errorf("?exclude=db: %d %q, want 200", code, body)
	}
	if code, body := probeHealth(t, mux, "GET", "/readyz?exclude=db&verbose"); code != 200 || !strings.Contains(body, "[+]db excluded: ok") {
		t.Errorf("?exclude=db&verbose: %d %q", code, body)
	}
	h.ShowErrors = true
	if _, body := probeHealth(t, mux, "GET", "/readyz"); !strings.Contains(body, "[-]db failed: "+dbErr.Error()) {
		t.Errorf("ShowErrors: %q lacks the error", body)
	}
	h.ShowErrors = false
	dbDown = false
	if code, _ := probeHealth(t, mux, "GET", "/readyz"); code != 200 {
		t.Errorf("recovered: %d, want 200", code)
	}
	if !strings.Contains(logs(), "readiness check passing again") {
		t.Error("the recovery is not logged")
	}

	if code, _ := probeHealth(t, mux, "POST", "/readyz"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", code)
	}
	if code, _ := probeHealth(t, mux, "HEAD", "/livez"); code != 200 {
		t.Errorf("HEAD /livez: %d, want 200", code)
	}

	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// Once the shutdown has begun, readiness fails without asking the
	// checks, even when told to skip the built-in check; liveness holds.
	if code, _ := probeHealth(t, mux, "GET", "/readyz?exclude=shutdown"); code != 503 {
		t.Errorf("?exclude=shutdown after the shutdown: %d, want 503", code)
	}
	if code, body := probeHealth(t, mux, "GET", "/readyz?verbose"); code != 503 || body != "[-]shutdown failed: shutting down\nreadyz check failed\n" {
		t.Errorf("after the shutdown: %d %q", code, body)
	}
	if code, body := probeHealth(t, mux, "GET", "/livez?verbose"); code != 200 || body != "[+]ping ok\nlivez check passed\n" {
		t.Errorf("/livez after the shutdown: %d %q", code, body)
	}
}

// A check that outlives its timeout fails the probe in time, whether it
// heeds its context or not.
func TestReadyzCheckTimeout(t *testing.T) {
	leakcheck(t)
	g := &Group{Logger: nopLogger()}
	h := g.Health()
	h.CheckTimeout = 100 * time.Millisecond
	h.ShowErrors = true
	stuck := make(chan struct{})
	defer close(stuck) // the abandoned check returns, for the leak check
	h.AddCheck("heeds", func(ctx context.Context) error {
		<-ctx.Done()
		return context.Cause(ctx)
	})
	var calls atomic.Int32
	h.AddCheck("ignores", func(ctx context.Context) error {
		calls.Add(1)
		<-stuck
		return nil
	})
	h.AddCheck("panics", func(ctx context.Context) error { panic("boom") })
	mux, stop, wait := serveHealth(t, g)
	defer func() {
		stop()
		wait()
	}()
	start := time.Now()
	code, body := probeHealth(t, mux, "GET", "/readyz")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the probe took %v with a 100ms check timeout", took)
	}
	for _, want := range []string{"[-]heeds failed: timed out after 100ms\n", "[-]ignores failed: still running", "[-]panics failed: panic: boom\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("%q lacks %q", body, want)
		}
	}
	if code != 503 {
		t.Errorf("status %d, want 503", code)
	}
	// Later probes share the stuck run instead of piling up goroutines.
	for range 3 {
		probeHealth(t, mux, "GET", "/readyz")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the stuck check ran %d times, want once", n)
	}
}

// A Health not from a group does not panic: it is never ready.
func TestHealthZeroValue(t *testing.T) {
	var h Health
	h.AddCheck("db", func(context.Context) error { return nil })
	if code, body := probeHealth(t, h.Readyz(), "GET", "/readyz"); code != 503 || !strings.Contains(body, "Group.Health") {
		t.Errorf("zero Health /readyz: %d %q", code, body)
	}
	if code, _ := probeHealth(t, h.Livez(), "GET", "/livez"); code != 200 {
		t.Errorf("zero Health /livez: %d", code)
	}
}

// A readiness check still running when Run returns has its context ended,
// and Run waits for it: no goroutine is left behind.
func TestReadyzCheckEndsWithRun(t *testing.T) {
	leakcheck(t)
	g := &Group{Logger: nopLogger()}
	h := g.Health()
	h.CheckTimeout = time.Hour
	started := make(chan struct{})
	var cause error
	h.AddCheck("slow", func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		cause = context.Cause(ctx)
		return cause
	})
	mux, stop, wait := serveHealth(t, g)
	go probeHealth(t, mux, "GET", "/readyz") // answered once Run has stopped the check
	<-started
	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if cause == nil || !strings.Contains(cause.Error(), "stopped") {
		t.Errorf("the check's context ended with %v, want the group's stop", cause)
	}
}
