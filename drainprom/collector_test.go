package drainprom_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/drainprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A fixture is a drain.Group serving real HTTP servers on loopback, whose
// handlers hold every request until release is called, ignoring their
// contexts. Only its context stops the group.
type fixture struct {
	g       *drain.Group
	c       *drainprom.Collector
	addrs   []string      // one per server
	entered chan struct{} // receives when a request reaches a handler
	release func()        // lets the handlers return; idempotent
	cancel  context.CancelFunc
	started bool
	done    chan struct{} // closed when Run returns
	err     error         // Run's result, once done is closed
	tr      *http.Transport
	clients sync.WaitGroup // client goroutines, and those holding hijacked connections
}

// newFixture adds an HTTP server for each name to a group with the given
// Timeout (0 for the default), lets setup register cleanups, and returns
// the fixture before Run; start runs it.
func newFixture(t testing.TB, timeout time.Duration, names []string, setup func(*drain.Group)) *fixture {
	t.Helper()
	release := make(chan struct{})
	f := &fixture{
		g: &drain.Group{
			Timeout: timeout,
			Signals: []os.Signal{},
			Logger:  slog.New(slog.DiscardHandler),
		},
		entered: make(chan struct{}, 16),
		release: sync.OnceFunc(func() { close(release) }),
		cancel:  func() {},
		done:    make(chan struct{}),
		tr:      &http.Transport{},
	}
	f.c = drainprom.NewCollector(f.g)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			// Keep the connection, as a WebSocket does, until it is closed.
			nc, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			f.clients.Go(func() {
				io.Copy(io.Discard, nc)
				nc.Close()
			})
			f.entered <- struct{}{}
			return
		}
		f.entered <- struct{}{}
		<-release // even when the request's context ends
		io.WriteString(w, "ok\n")
	})
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f.addrs = append(f.addrs, ln.Addr().String())
		f.g.Add(&drain.HTTP{Name: name, Listener: ln, Server: &http.Server{Handler: handler}})
	}
	if setup != nil {
		setup(f.g)
	}
	t.Cleanup(func() {
		f.release()
		f.cancel()
		if f.started {
			f.wait(t)
		}
		f.clients.Wait()
		f.tr.CloseIdleConnections()
	})
	return f
}

// start runs the group until ctx is cancelled by f.cancel, and returns
// once it serves.
func (f *fixture) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.started = true
	go func() {
		defer close(f.done)
		f.err = f.g.Run(ctx)
	}()
	recv(t, f.g.Happened(drain.Serving), "the group to serve")
}

// get sends a GET to server i and returns a channel that receives the
// response's status, or the error.
func (f *fixture) get(i int) <-chan any {
	res := make(chan any, 1)
	f.clients.Go(func() {
		resp, err := (&http.Client{Transport: f.tr}).Get("http://" + f.addrs[i] + "/")
		if err != nil {
			res <- err
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res <- resp.StatusCode
	})
	return res
}

// hold sends a request to server i and waits until its handler holds it.
func (f *fixture) hold(t testing.TB, i int) <-chan any {
	t.Helper()
	res := f.get(i)
	recv(t, f.entered, "a request to reach the handler")
	return res
}

// hijack opens a connection to server i whose handler hijacks it, and
// waits until it has. The connection stays open until the server closes
// it.
func (f *fixture) hijack(t testing.TB, i int) {
	t.Helper()
	nc, err := net.Dial("tcp", f.addrs[i])
	if err != nil {
		t.Fatal(err)
	}
	f.clients.Go(func() {
		defer nc.Close()
		io.WriteString(nc, "GET /hijack HTTP/1.1\r\nHost: drain\r\n\r\n")
		io.Copy(io.Discard, nc)
	})
	recv(t, f.entered, "the handler to hijack the connection")
}

// wait waits for Run to return.
func (f *fixture) wait(t testing.TB) {
	t.Helper()
	recv(t, f.done, "Run to return")
}

func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// scrape collects c through a pedantic registry, which also checks that
// every metric matches a described one and that no series is repeated,
// and returns the value of each series, keyed by the series as the text
// format writes it: drain_connections{server="web",state="active"}.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	series := make(map[string]float64)
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			var v float64
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			default:
				t.Fatalf("%s: neither a gauge nor a counter", key)
			}
			series[key] = v
		}
	}
	return series
}

// only returns the series of the named metrics.
func only(series map[string]float64, names ...string) map[string]float64 {
	out := make(map[string]float64)
	for k, v := range series {
		name, _, _ := strings.Cut(k, "{")
		if slices.Contains(names, name) {
			out[k] = v
		}
	}
	return out
}

// wantSeries fails unless got holds exactly the series of want.
func wantSeries(t *testing.T, step string, got, want map[string]float64) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s (want %v)", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected %s = %v", k, g))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Errorf("%s:\n\t%s", step, strings.Join(diffs, "\n\t"))
	}
}

// numEvents is the number of drain's events, Serving to CleanupDone.
const numEvents = int(drain.CleanupDone) + 1

// phases returns the drain_phase series with current at 1.
func phases(current string) map[string]float64 {
	m := map[string]float64{`drain_phase{phase="starting"}`: 0}
	for e := drain.Serving; e <= drain.CleanupDone; e++ {
		m[fmt.Sprintf("drain_phase{phase=%q}", e)] = 0
	}
	m[fmt.Sprintf("drain_phase{phase=%q}", current)] = 1
	return m
}

// open returns the series of what server "web" holds open, and of how
// many servers of that name accept connections.
func open(requests, active, accepting float64) map[string]float64 {
	return map[string]float64{
		`drain_accepting{server="web"}`:                    accepting,
		`drain_requests_in_flight{server="web"}`:           requests,
		`drain_streams_in_flight{server="web"}`:            0,
		`drain_connections{server="web",state="new"}`:      0,
		`drain_connections{server="web",state="active"}`:   active,
		`drain_connections{server="web",state="idle"}`:     0,
		`drain_connections{server="web",state="hijacked"}`: 0,
		`drain_http2_connections{server="web"}`:            0,
		`drain_forced_requests_total{server="web"}`:        0,
		`drain_forced_connections_total{server="web"}`:     0,
	}
}

var serverMetrics = []string{
	"drain_requests_in_flight", "drain_streams_in_flight", "drain_connections", "drain_http2_connections",
	"drain_forced_requests_total", "drain_forced_connections_total", "drain_accepting",
}

// oldestAge returns the age of the oldest request of server "web" in s.
func oldestAge(t *testing.T, s map[string]float64) time.Duration {
	t.Helper()
	v, ok := s[`drain_oldest_request_age_seconds{server="web"}`]
	if !ok {
		t.Fatal("no drain_oldest_request_age_seconds for web")
	}
	return time.Duration(v * float64(time.Second))
}

// lint fails if promlint finds fault with the metrics of c.
func lint(t *testing.T, step string, c prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatalf("%s: lint: %v", step, err)
	}
	for _, p := range problems {
		t.Errorf("%s: lint: %s: %s", step, p.Metric, p.Text)
	}
}

// TestLifecycle follows a graceful shutdown that waits for a request in
// flight, scraping at each phase.
func TestLifecycle(t *testing.T) {
	errDB := errors.New("connection reset")
	const dbTook = 10 * time.Millisecond
	f := newFixture(t, 0, []string{"web"}, func(g *drain.Group) {
		g.Cleanup("db", func(context.Context) error {
			time.Sleep(dbTook)
			return errDB
		})
		g.Cleanup("cache", func(context.Context) error { return nil })
	})

	// Before Run: starting, nothing open, no event.
	err := testutil.CollectAndCompare(f.c, strings.NewReader(`
# HELP drain_requests_in_flight Requests being served, by server. A request cut by a forced shutdown is counted until its handler returns.
# TYPE drain_requests_in_flight gauge
drain_requests_in_flight{server="web"} 0
# HELP drain_phase The phase of the group, as a state set: 1 for the current phase, 0 for the others. starting before Run; then the last lifecycle event that happened: serving, shutdown-initiated, delay-elapsed, stopped-accepting, drained, cleanup-done.
# TYPE drain_phase gauge
drain_phase{phase="starting"} 1
drain_phase{phase="serving"} 0
drain_phase{phase="shutdown-initiated"} 0
drain_phase{phase="delay-elapsed"} 0
drain_phase{phase="stopped-accepting"} 0
drain_phase{phase="drained"} 0
drain_phase{phase="cleanup-done"} 0
`), "drain_requests_in_flight", "drain_phase")
	if err != nil {
		t.Errorf("before Run: %v", err)
	}
	for _, name := range []string{
		"drain_event_timestamp_seconds", "drain_shutdown_duration_seconds",
		"drain_drain_duration_seconds", "drain_cleanup_duration_seconds",
	} {
		if n := testutil.CollectAndCount(f.c, name); n != 0 {
			t.Errorf("before Run: %d series of %s, want none", n, name)
		}
	}
	lint(t, "before Run", f.c)

	// Serving, with a request held in its handler.
	before := time.Now()
	f.start(t)
	res := f.hold(t, 0)
	held := time.Now() // the request is in its handler
	s := scrape(t, f.c)
	wantSeries(t, "serving", only(s, serverMetrics...), open(1, 1, 1))
	if age, most := oldestAge(t, s), time.Since(before); age <= 0 || age > most {
		t.Errorf("serving: the oldest request's age is %v, want more than 0 and at most the %v since Run", age, most)
	}
	wantSeries(t, "serving", only(s, "drain_phase"), phases("serving"))
	if n := testutil.CollectAndCount(f.c, "drain_shutdown_duration_seconds"); n != 0 {
		t.Errorf("serving: %d series of drain_shutdown_duration_seconds, want none", n)
	}
	lint(t, "serving", f.c)

	// Draining: the listener is closed, the request still runs, so the
	// group cannot have drained.
	f.cancel()
	recv(t, f.g.Happened(drain.StoppedAccepting), "the group to stop accepting")
	stopped := time.Now() // after the shutdown began
	heldFor := time.Since(held)
	s = scrape(t, f.c)
	wantSeries(t, "draining", only(s, serverMetrics...), open(1, 1, 0))
	if age := oldestAge(t, s); age < heldFor {
		t.Errorf("draining: the oldest request's age is %v, less than the %v it had been held", age, heldFor)
	}
	wantSeries(t, "draining", only(s, "drain_phase"), phases("stopped-accepting"))
	if n := len(only(s, "drain_event_timestamp_seconds")); n != 4 {
		t.Errorf("draining: %d event timestamps, want 4 (up to stopped-accepting)", n)
	}
	const pause = 20 * time.Millisecond
	time.Sleep(pause)
	s2 := scrape(t, f.c)
	for _, name := range []string{"drain_shutdown_duration_seconds", "drain_drain_duration_seconds"} {
		d1, ok := s[name]
		if !ok {
			t.Errorf("draining: no %s", name)
			continue
		}
		if d2 := s2[name]; d2-d1 < pause.Seconds() {
			t.Errorf("draining: %s went from %v to %v in %v: it does not count the time so far", name, d1, d2, pause)
		}
	}
	lint(t, "draining", f.c)

	// The request finishes, the group drains and cleans up.
	released := time.Now() // before the handler can return
	f.release()
	if got := recv(t, res, "the response"); got != http.StatusOK {
		t.Errorf("held request: got %v, want status 200", got)
	}
	f.wait(t)
	after := time.Now()
	if !errors.Is(f.err, errDB) {
		t.Errorf("Run returned %v, want the cleanup's error", f.err)
	}

	s = scrape(t, f.c)
	wantSeries(t, "after Run", only(s, serverMetrics...), open(0, 0, 0))
	wantSeries(t, "after Run", only(s, "drain_phase"), phases("cleanup-done"))
	if age := oldestAge(t, s); age != 0 {
		t.Errorf("after Run: the oldest request's age is %v, want 0 with none in flight", age)
	}

	// Every event has a time, in order, within the run.
	prev := float64(before.UnixNano()) / 1e9
	for e := drain.Serving; e <= drain.CleanupDone; e++ {
		ts, ok := s[fmt.Sprintf("drain_event_timestamp_seconds{event=%q}", e)]
		switch {
		case !ok:
			t.Errorf("after Run: no timestamp for %s", e)
		case ts < prev:
			t.Errorf("after Run: %s at %.6f, before the previous event or the start (%.6f)", e, ts, prev)
		case ts > float64(after.UnixNano())/1e9:
			t.Errorf("after Run: %s at %.6f, after Run returned", e, ts)
		default:
			prev = ts
		}
	}

	// The durations cover the request held through the drain, and stop
	// at drained.
	shutdown := s["drain_shutdown_duration_seconds"]
	drained := s["drain_drain_duration_seconds"]
	if held := released.Sub(stopped).Seconds(); shutdown < held {
		t.Errorf("after Run: shutdown took %vs, less than the %vs the request was held once the group stopped accepting", shutdown, held)
	}
	if drained < 0 || drained > shutdown {
		t.Errorf("after Run: drain took %vs, want between 0 and the shutdown's %vs", drained, shutdown)
	}
	if ran := after.Sub(before).Seconds(); shutdown > ran {
		t.Errorf("after Run: shutdown took %vs, longer than Run (%vs)", shutdown, ran)
	}
	time.Sleep(pause)
	s2 = scrape(t, f.c)
	if s2["drain_shutdown_duration_seconds"] != shutdown || s2["drain_drain_duration_seconds"] != drained {
		t.Errorf("after Run: the durations still grow: %v, %v then %v, %v", shutdown, drained,
			s2["drain_shutdown_duration_seconds"], s2["drain_drain_duration_seconds"])
	}

	// The cleanup ran after the drain, which ended after the release.
	if took := s["drain_cleanup_duration_seconds"]; took < dbTook.Seconds() || took > after.Sub(released).Seconds() {
		t.Errorf("after Run: the cleanup took %vs, want at least cleanup db's %v sleep, and less than the time from the release to the end of Run", took, dbTook)
	}
	if s2["drain_cleanup_duration_seconds"] != s["drain_cleanup_duration_seconds"] {
		t.Errorf("after Run: the cleanup's duration still grows")
	}
	lint(t, "after Run", f.c)
}

// TestForced follows a shutdown forced by its Timeout while a handler
// ignores its context and another connection is hijacked.
func TestForced(t *testing.T) {
	const timeout = 200 * time.Millisecond
	f := newFixture(t, timeout, []string{"web"}, nil)
	f.start(t)
	res := f.hold(t, 0)
	f.hijack(t, 0)
	wantSeries(t, "serving", only(scrape(t, f.c), "drain_connections"), map[string]float64{
		`drain_connections{server="web",state="new"}`:      0,
		`drain_connections{server="web",state="active"}`:   1,
		`drain_connections{server="web",state="idle"}`:     0,
		`drain_connections{server="web",state="hijacked"}`: 1,
	})
	f.cancel()
	f.wait(t)
	if !errors.Is(f.err, drain.ErrForced) {
		t.Fatalf("Run returned %v, want ErrForced", f.err)
	}
	if got := recv(t, res, "the client"); got == http.StatusOK {
		t.Errorf("the forced request was answered %v", got)
	}

	// One request cut; its connection and the hijacked one closed.
	s := scrape(t, f.c)
	wantSeries(t, "forced", only(s, "drain_forced_requests_total", "drain_forced_connections_total"), map[string]float64{
		`drain_forced_requests_total{server="web"}`:    1,
		`drain_forced_connections_total{server="web"}`: 2,
	})
	// The handler outlives the forced close: it still runs, on a closed
	// connection.
	wantSeries(t, "forced", only(s, "drain_requests_in_flight", "drain_connections"), map[string]float64{
		`drain_requests_in_flight{server="web"}`:           1,
		`drain_connections{server="web",state="new"}`:      0,
		`drain_connections{server="web",state="active"}`:   0,
		`drain_connections{server="web",state="idle"}`:     0,
		`drain_connections{server="web",state="hijacked"}`: 0,
	})
	wantSeries(t, "forced", only(s, "drain_phase"), phases("cleanup-done"))
	if got := s["drain_shutdown_duration_seconds"]; got < timeout.Seconds() {
		t.Errorf("drain_shutdown_duration_seconds = %v, want at least the %v timeout", got, timeout)
	}
	lint(t, "forced", f.c)
}

// TestSameNames checks that servers that share a name are added up into
// one series, which a registry requires.
func TestSameNames(t *testing.T) {
	f := newFixture(t, 0, []string{"web", "web"}, nil)
	f.start(t)
	f.hold(t, 0)
	f.hold(t, 1)
	wantSeries(t, "serving", only(scrape(t, f.c), serverMetrics...), open(2, 2, 2))

	f.cancel()
	recv(t, f.g.Happened(drain.StoppedAccepting), "the group to stop accepting")
	f.release()
	f.wait(t)
	wantSeries(t, "after Run", only(scrape(t, f.c), serverMetrics...), open(0, 0, 0))
}

func TestNamespace(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		phase     string // the name of the phase metric; "" if invalid
	}{
		{"default", "", "drain_phase"},
		{"drain", "drain", "drain_phase"},
		{"app", "myapp", "myapp_phase"},
		{"app and drain", "myapp_drain", "myapp_drain_phase"},
		{"not UTF-8", "\xff", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g drain.Group
			c := drainprom.NewCollector(&g)
			c.Namespace = tt.namespace
			err := prometheus.NewRegistry().Register(c)
			if tt.phase == "" {
				if err == nil {
					t.Fatalf("Register accepted namespace %q", tt.namespace)
				}
				return
			}
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			if n := testutil.CollectAndCount(c, tt.phase); n != 1+numEvents {
				t.Errorf("%d series of %s, want %d", n, tt.phase, 1+numEvents)
			}
			if n := testutil.CollectAndCount(c); n != 1+numEvents {
				t.Errorf("%d series in all, want only the phases of a group with no server, before Run", n)
			}
		})
	}
}

// A collector without a group fails the scrape with a clear error rather
// than panicking in the registry.
func TestNilGroup(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(drainprom.NewCollector(nil))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "no Group") {
		t.Errorf("Gather = %v, want the nil-group error", err)
	}
}

// TestWorker follows a drain.Worker through a shutdown with a job in
// hand: it stops taking jobs at once, and the job is done before the
// group drains.
func TestWorker(t *testing.T) {
	g := &drain.Group{Signals: []os.Signal{}, Logger: slog.New(slog.DiscardHandler)}
	c := drainprom.NewCollector(g)
	jobs := make(chan string, 1)
	entered := make(chan struct{})
	release := make(chan struct{})
	g.Add(&drain.Worker[string]{
		Name: "billing",
		Next: drain.FromChannel(jobs),
		Do: func(context.Context, string) error {
			close(entered)
			<-release
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- g.Run(ctx) }()
	jobs <- "invoice 42"
	recv(t, entered, "the job to start")
	started := time.Now()

	series := func(s map[string]float64) map[string]float64 {
		return only(s, "drain_requests_in_flight", "drain_accepting")
	}
	want := func(inHand, accepting float64) map[string]float64 {
		return map[string]float64{
			`drain_requests_in_flight{server="billing"}`: inHand,
			`drain_accepting{server="billing"}`:          accepting,
		}
	}
	s := scrape(t, c)
	wantSeries(t, "working", series(s), want(1, 1))
	cancel()
	recv(t, g.Happened(drain.StoppedAccepting), "the worker to stop taking jobs")
	time.Sleep(10 * time.Millisecond)
	inHand := time.Since(started)
	s = scrape(t, c)
	wantSeries(t, "draining", series(s), want(1, 0))
	if age := s[`drain_oldest_request_age_seconds{server="billing"}`]; age < inHand.Seconds() {
		t.Errorf("draining: the oldest job's age is %vs, less than the %v it has been in hand", age, inHand)
	}
	close(release)
	if err := recv(t, result, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantSeries(t, "after Run", series(scrape(t, c)), want(0, 0))
	lint(t, "after Run", c)
}
