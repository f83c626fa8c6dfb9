package drain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for the fields of [Group].
const (
	// DefaultTimeout bounds a shutdown: the time from the signal to the
	// moment the remaining connections are closed by force. It is the
	// bound of the Node.js recipe this package grew from.
	DefaultTimeout = 10 * time.Second

	// DefaultCleanupReserve is the least time the cleanup functions get,
	// even when the drain used the whole Timeout.
	DefaultCleanupReserve = time.Second
)

// defaultSignals are the signals that start a shutdown when
// [Group.Signals] is nil: what Kubernetes, Docker and systemd send
// (SIGTERM), and Ctrl+C (SIGINT).
var defaultSignals = []os.Signal{syscall.SIGTERM, os.Interrupt}

// A Group runs servers until a signal arrives or a context ends, then shuts
// them down together and runs the cleanup functions. It is what main calls:
//
//	var g drain.Group
//	g.Add(&drain.HTTP{Server: srv})
//	g.Cleanup("database", func(ctx context.Context) error { return db.Close() })
//	os.Exit(drain.ExitCode(g.Run(context.Background())))
//
// The zero value is ready to use: it stops on SIGTERM or SIGINT, gives the
// drain 10 seconds and logs through [slog.Default]. Set the fields before
// calling Run and do not change them after. A Group runs once.
type Group struct {
	// Timeout bounds the shutdown, from the moment it begins (the signal)
	// to the moment the connections still open are closed by force and
	// Run's result wraps [ErrForced]. It covers ShutdownDelay and the
	// drain. Defaults to [DefaultTimeout].
	Timeout time.Duration

	// ShutdownDelay is how long the servers keep serving once the
	// shutdown begins, before they drain. Load balancers and Kubernetes
	// learn of a shutdown from a failing readiness check ([Group.Health]),
	// some time after the signal; a server that stopped accepting at once
	// would refuse the requests they still send it. During the delay the
	// readiness check fails, the servers serve normally, and every HTTP
	// response carries "Connection: close", so that keep-alive clients
	// reconnect through the balancer to another instance. Set it longer
	// than the balancer takes to notice: for Kubernetes, the readiness
	// probe's periodSeconds × failureThreshold + timeoutSeconds, plus a
	// second or two for the endpoint change to reach every node. It must
	// be shorter than Timeout. Defaults to 0: the drain begins at once.
	ShutdownDelay time.Duration

	// CleanupReserve is the least time the cleanup functions are given:
	// they share what is left of Timeout when the drain ends, and never
	// less than CleanupReserve, so Run returns at most
	// Timeout + CleanupReserve after the shutdown begins (and 50ms more
	// for each cleanup function that ignores its context).
	// Defaults to [DefaultCleanupReserve].
	CleanupReserve time.Duration

	// Signals start a shutdown. Defaults to SIGTERM and SIGINT when nil;
	// an empty, non-nil slice listens to no signal, so that only the
	// context passed to Run starts a shutdown.
	Signals []os.Signal

	// IgnoreSecondSignal keeps draining when a second signal arrives
	// during the shutdown. By default a second signal forces the shutdown
	// at once, as an operator pressing Ctrl+C twice expects.
	IgnoreSecondSignal bool

	// Upgrader, if set, lets the process be replaced by a new one without
	// closing its listening sockets, on a signal: see [Upgrader].
	Upgrader *Upgrader

	// Logger receives the story of the shutdown: why it began, what was
	// open, what it waits for, what was forced and how long each cleanup
	// took. Servers that have no logger of their own use it too.
	// Defaults to [slog.Default].
	Logger *slog.Logger

	mu       sync.Mutex
	servers  []Server
	after    map[int][]int // for each server added with AddAfter, the servers it follows
	cleanups []cleanup
	misuse   []error // bad calls to Add, AddAfter or Cleanup: configuration errors for Run's start, or errors in its result if made while it ran
	state    groupState
	health   *Health

	life lifecycle

	// Seams for tests: the signal source.
	notify     func(c chan<- os.Signal, sig ...os.Signal)
	stopNotify func(c chan<- os.Signal)
}

type groupState int

const (
	groupNew groupState = iota
	groupServing
	groupCleaning // cleanup functions are running or ran
)

// A cleanup is a function registered with [Group.Cleanup].
type cleanup struct {
	name string
	fn   func(context.Context) error
}

// Add adds a server for Run to serve. It must be called before Run.
func (g *Group) Add(s Server) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != groupNew {
		g.misuse = append(g.misuse, fmt.Errorf("%w: Add called after Run started", ErrInvalid))
		return
	}
	g.servers = append(g.servers, s)
}

// AddAfter adds a server whose shutdown follows that of other servers of
// the group, added before it: its Shutdown is called (and PrepareShutdown
// is not) only once every one of them has finished. It is for a [Worker]
// fed by this process's own handlers, through an in-process queue: it
// takes jobs until the servers that enqueue them have drained, so that
// every job they accepted is done. At the bound, every server is closed
// at once, whatever the order. It must be called before Run; a server in
// after that was not added before is an error that Run returns, wrapping
// [ErrInvalid].
func (g *Group) AddAfter(s Server, after ...Server) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != groupNew {
		g.misuse = append(g.misuse, fmt.Errorf("%w: AddAfter called after Run started", ErrInvalid))
		return
	}
	var deps []int
	for _, a := range after {
		i := slices.IndexFunc(g.servers, func(s Server) bool { return sameServer(s, a) })
		if i < 0 {
			g.misuse = append(g.misuse, fmt.Errorf("%w: AddAfter(%s): server %s (%T) was not added before it", ErrInvalid, serverName(s, len(g.servers)), serverName(a, -1), a))
			return
		}
		deps = append(deps, i)
	}
	if g.after == nil {
		g.after = make(map[int][]int)
	}
	g.after[len(g.servers)] = deps
	g.servers = append(g.servers, s)
}

// sameServer reports whether a and b are the same server, without the
// panic of == on a type that cannot be compared.
func sameServer(a, b Server) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// Cleanup registers fn to run after every server has drained (or been
// forced closed): close databases, flush buffers, release locks, stop
// workers. Cleanup functions run one at a time, the last registered first,
// like deferred calls, so a resource opened after another is closed before
// it.
//
// Each function gets a context that ends when the shutdown's budget does
// (see [Group.CleanupReserve]). A function that returns an error or panics
// does not stop the others; its error is joined into Run's result. A
// function still running 50ms after its context ended is abandoned: Run
// logs its name and goes on, so that a stuck cleanup cannot hold the
// process past its bound.
//
// Cleanup may be called before Run or while the servers are serving, for a
// resource opened on first use; a call after the cleanup has started is
// reported in Run's result.
func (g *Group) Cleanup(name string, fn func(ctx context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == groupCleaning {
		g.misuse = append(g.misuse, fmt.Errorf("%w: Cleanup(%q) called after the cleanup started", ErrInvalid, name))
		return
	}
	g.cleanups = append(g.cleanups, cleanup{name: name, fn: fn})
}

// Run serves every server added with Add until one of these happens: a
// signal from Signals arrives, ctx ends, or a server fails (it could not
// listen, for example). Then it shuts down, in the steps the package
// documentation describes under "The shutdown": readiness fails, the
// servers serve on for ShutdownDelay, then every server's Shutdown is
// called at once, so that all of them stop accepting and drain in
// parallel; at Timeout, or at a second signal, every server that has not
// finished is closed, each on its own, and one whose Serve, Shutdown or
// Close has still not returned 500ms later is abandoned, named in the log
// and in the result; then the cleanup functions run, newest first. Each
// step is an [Event].
//
// Run returns nil if everything drained and cleaned up, or the joined
// errors: why a server failed, [ErrForced] if the drain was forced (and
// which servers were abandoned), and each cleanup function's error. It
// returns only when all of this is done, so returning from main after it
// cannot cut a drain short, and never later than Timeout + CleanupReserve
// after the shutdown began (Timeout + 500ms if CleanupReserve is shorter),
// plus 50ms for each cleanup function, and 50ms for the readiness checks,
// that ignore their context: whatever a server, a cleanup function or a
// readiness check does, Run keeps its bound. Code that never returns is
// abandoned, not stopped (Go cannot stop a goroutine), and goes on running
// until the process exits. Pass Run's result to [ExitCode] for the
// process's exit code. Run never exits the process itself.
//
// Run checks the configuration first (its own, and each server's through
// [Initializer]) and, if it is wrong, logs why and returns an error
// wrapping [ErrInvalid] before starting anything. Run may be called only
// once.
func (g *Group) Run(ctx context.Context) error {
	servers, err := g.start(ctx)
	if err != nil {
		g.logger().Error("drain: not started", "err", err)
		return err
	}
	r := &run{
		g:       g,
		log:     g.logger(),
		members: make([]*member, len(servers)),
		results: make(chan callResult, len(servers)*int(numCalls)),
	}
	for i, s := range servers {
		r.members[i] = &member{s: s, name: serverName(s, i), after: g.after[i]}
	}

	signals := g.Signals
	if signals == nil {
		signals = defaultSignals
	}
	if len(signals) > 0 {
		r.sigc = make(chan os.Signal, 1)
		notify, stop := signal.Notify, signal.Stop
		if g.notify != nil {
			notify, stop = g.notify, g.stopNotify
		}
		notify(r.sigc, signals...)
		defer stop(r.sigc)
	}

	r.svc = newService(g, r.log)
	if g.Upgrader != nil {
		for _, m := range r.members {
			if h, ok := m.s.(*HTTP); ok {
				if !g.Upgrader.owns(h.Listener) {
					r.log.Warn("drain: server listens on a socket that a new process cannot take over: get its Listener from Upgrader.Listen", "server", m.name)
				}
			} else if _, ok := m.s.(HandOffer); !ok && !isWorker(m.s) {
				r.log.Warn("drain: server cannot leave its sockets to a new process: an upgrade shuts it down as a plain shutdown would", "server", m.name)
			}
		}
	}
	for i, m := range r.members {
		r.call(i, callServe, m.s.Serve)
	}
	return r.run(ctx)
}

// start validates the configuration, initializes the servers and marks
// the group as started.
func (g *Group) start(ctx context.Context) ([]Server, error) {
	g.mu.Lock()
	if g.state != groupNew {
		g.mu.Unlock()
		return nil, fmt.Errorf("%w: Run called twice", ErrInvalid)
	}
	g.state = groupServing
	servers, health, cleanups := g.servers, g.health, g.cleanups
	errs := slices.Clone(g.misuse) // calls made before Run: AddAfter naming an unknown server
	g.misuse = nil
	g.mu.Unlock()

	if ctx == nil {
		errs = append(errs, errors.New("nil context"))
	}
	if g.Timeout < 0 {
		errs = append(errs, fmt.Errorf("negative Timeout %v", g.Timeout))
	}
	if g.ShutdownDelay < 0 {
		errs = append(errs, fmt.Errorf("negative ShutdownDelay %v", g.ShutdownDelay))
	} else if timeout := cmp.Or(g.Timeout, DefaultTimeout); g.ShutdownDelay >= timeout && g.Timeout >= 0 {
		errs = append(errs, fmt.Errorf("ShutdownDelay %v is not shorter than Timeout %v, which covers the delay and the drain", g.ShutdownDelay, timeout))
	}
	if g.CleanupReserve < 0 {
		errs = append(errs, fmt.Errorf("negative CleanupReserve %v", g.CleanupReserve))
	}
	for i, sig := range g.Signals {
		if sig == nil {
			errs = append(errs, fmt.Errorf("signal %d in Signals is nil", i))
		}
	}
	// Init is user code: called without the group's lock, so that it may
	// call the group's methods.
	log := g.logger()
	for i, s := range servers {
		if isNil(s) {
			errs = append(errs, fmt.Errorf("server %d is nil (%T)", i, s))
			continue
		}
		if in, ok := s.(Initializer); ok {
			if err := protect(func() error { return in.Init(log) }); err != nil {
				errs = append(errs, fmt.Errorf("server %s: %w", serverName(s, i), err))
			}
		}
	}
	errs = g.checkUpgrader(errs)
	if health != nil {
		if err := health.validate(); err != nil {
			errs = append(errs, fmt.Errorf("health: %w", err))
		}
	}
	for i, c := range cleanups {
		if c.fn == nil {
			errs = append(errs, fmt.Errorf("cleanup %d (%q) has no function", i, c.name))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return servers, nil
}

// isNil reports whether s is nil, or a nil pointer (or map, func, chan or
// slice) in a Server interface, whose methods would panic.
func isNil(s Server) bool {
	if s == nil {
		return true
	}
	switch v := reflect.ValueOf(s); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Happened returns a channel that is closed when the event e has happened.
// It may be called at any time, before Run too; the channel of an unknown
// event is nil, which is never ready.
//
//	go func() {
//		<-g.Happened(drain.ShutdownInitiated)
//		// stop taking jobs from the queue
//	}()
func (g *Group) Happened(e Event) <-chan struct{} { return g.life.done(e) }

// When returns the time the event e happened, or the zero time if it has
// not happened yet. The last event with a time is the phase the group is
// in.
func (g *Group) When(e Event) time.Time { return g.life.when(e) }

// ServerStats are the [Stats] of one server of a group.
type ServerStats struct {
	Name string // the server's name in logs: its String method, or "#N"
	Stats
	// NotAccepting is closed once the server has stopped accepting new
	// work (connections; jobs, for a Worker) in a shutdown. It is nil if
	// the server cannot tell (see [AcceptingReporter]).
	NotAccepting <-chan struct{}
}

// Stats returns what each server that can tell ([StatsReporter]) holds
// open now, in the order they were added; it is what package drainprom
// exports.
func (g *Group) Stats() []ServerStats {
	g.mu.Lock()
	servers := g.servers
	g.mu.Unlock()
	var stats []ServerStats
	for i, s := range servers {
		if st, ok := statsOf(s); ok {
			ss := ServerStats{Name: serverName(s, i), Stats: st}
			if a, ok := s.(AcceptingReporter); ok {
				protect(func() error { ss.NotAccepting = a.NotAccepting(); return nil })
			}
			stats = append(stats, ss)
		}
	}
	return stats
}

// statsOf returns what s holds open, if it can tell.
func statsOf(s Server) (st Stats, ok bool) {
	r, ok := s.(StatsReporter)
	if !ok || isNil(s) {
		return Stats{}, false
	}
	if protect(func() error { st = r.Stats(); return nil }) != nil {
		return Stats{}, false
	}
	return st, true
}

func (g *Group) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

// The calls Run makes to each server. Each is made at most once.
type callKind int

const (
	callServe callKind = iota
	callPrepare
	callShutdown
	callClose
	numCalls
)

var callNames = [numCalls]string{"Serve", "PrepareShutdown", "Shutdown", "Close"}

func (k callKind) String() string { return callNames[k] }

// A callResult is what a call to a server returned.
type callResult struct {
	i    int // the server's index
	kind callKind
	err  error
}

// A member is one server of a running group, and what became of the calls
// Run made to it.
type member struct {
	s       Server
	name    string
	after   []int          // the servers whose shutdown it follows (see AddAfter)
	running [numCalls]bool // called, and not returned yet
	done    [numCalls]bool // returned
	drained bool           // Shutdown returned nil
}

// finished reports whether the server is done with: it has stopped
// serving, drained or been closed, and no call to it is still running.
func (m *member) finished() bool {
	return m.done[callServe] && (m.drained || m.done[callClose]) && !m.busy()
}

// busy reports whether a call to the server is still running.
func (m *member) busy() bool {
	return slices.Contains(m.running[:], true)
}

// runningCalls names the calls still running, for the log of an
// abandoned server.
func (m *member) runningCalls() string {
	var names []string
	for k, running := range m.running {
		if running {
			names = append(names, callKind(k).String())
		}
	}
	return strings.Join(names, ", ")
}

// A run holds the state of one call to Run. Only Run's goroutine touches
// it, apart from the channels.
type run struct {
	g       *Group
	log     *slog.Logger
	members []*member
	// results receives the result of every call made to a server. It has
	// room for all of them, so that the goroutine of a call that returns
	// after Run gave up on it still ends.
	results chan callResult

	began     time.Time      // the shutdown began
	sigc      chan os.Signal // nil when no signal is watched
	svc       *service       // what the run tells its supervisor, and its upgrades
	signalled bool           // a signal has arrived: the next one forces
	// fctx ends when a second signal forces the shutdown; dctx, the
	// budget of the delay and the drain, ends then or at the deadline.
	force context.CancelCauseFunc
	dctx  context.Context
	errs  []error
}

// call calls fn, a method of server i, in a goroutine of its own, and
// sends its result to r.results. A call that never returns is abandoned
// (see drain); r.results has room for its result all the same.
func (r *run) call(i int, k callKind, fn func() error) {
	m := r.members[i]
	if m.running[k] || m.done[k] {
		return
	}
	m.running[k] = true
	go func() { r.results <- callResult{i, k, protect(fn)} }()
}

func (r *run) run(ctx context.Context) error {
	r.mark(Serving, time.Now())
	r.log.Info("drain: running", "event", Serving, "servers", len(r.members))
	svc := r.svc
	svc.startReady()

	// Serve until something asks for a shutdown.
	var why []any
	failed, handOff := false, false
serving:
	for {
		select {
		case sig := <-r.sigc:
			r.signalled = true
			why = []any{"signal", sig.String()}
			break serving
		case <-ctx.Done():
			why = []any{"reason", "context done", "cause", context.Cause(ctx)}
			break serving
		case res := <-r.results: // only Serve calls are running
			r.handle(res, false)
			failed = true
			why = []any{"reason", "server failed", "server", r.members[res.i].name}
			break serving
		case <-svc.ready:
			svc.ready = nil
			svc.announceReady()
		case <-svc.committed:
			svc.committed = nil
			svc.takeOver()
		case <-svc.upSig:
			svc.beginUpgrade(nil)
		case req := <-svc.requests:
			svc.beginUpgrade(req.reply)
		case err := <-svc.decided:
			if pid, took := svc.decide(err); took {
				why = []any{"reason", "upgraded", "new_pid", pid}
				handOff = true
				break serving
			}
		case res := <-svc.upDone:
			if svc.upgradeEnded(res) { // its decision came with it
				why = []any{"reason", "upgraded", "new_pid", res.pid}
				handOff = true
				break serving
			}
		case <-svc.abort:
			// The previous process serves on: this one leaves it the
			// sockets, drains what it accepted, and exits.
			why = []any{"reason", "the previous process called the upgrade off"}
			r.errs = append(r.errs, fmt.Errorf("%w: the previous process called it off", ErrUpgrade))
			handOff = true
			break serving
		}
	}
	if pid, took := svc.callOff(); took {
		// The new process had been told to take over as the shutdown
		// began: it serves, and this one hands over.
		why = append(why, "new_pid", pid)
		handOff = true
	}
	svc.shutdownBegins(fmt.Sprint(why[1]), handOff)
	for _, m := range r.members {
		if h, ok := m.s.(HandOffer); ok && svc.handsOff(m.s) {
			h.HandOff()
		}
	}

	began := time.Now()
	r.began = began
	timeout := cmp.Or(r.g.Timeout, DefaultTimeout)
	deadline := began.Add(timeout)
	delay := r.g.ShutdownDelay
	if failed || handOff {
		delay = 0 // a broken group serves no better for waiting
	}
	r.log.Info("drain: shutdown began", append(why, "event", ShutdownInitiated, "delay", delay, "timeout", timeout)...)
	r.logOpen("drain: open")

	// One budget covers the delay and the drain; a second signal ends it,
	// and the cleanup's.
	fctx, force := context.WithCancelCause(context.WithoutCancel(ctx))
	defer force(nil)
	r.force = force
	dctx, cancel := context.WithDeadlineCause(fctx, deadline, fmt.Errorf("%w: timeout %v expired", ErrForced, timeout))
	defer cancel()
	r.dctx = dctx

	if delay > 0 {
		// Without a delay there is nothing to prepare: telling clients
		// to reconnect before the listener closes would send them into
		// its closing. The event follows the preparation, so that
		// whoever waits for it finds the servers prepared.
		timer := time.NewTimer(delay)
		defer timer.Stop()
		r.prepare()
		ended := r.serveOn(timer.C, func() bool { return !r.preparing() })
		r.mark(ShutdownInitiated, began)
		if !ended {
			r.serveOn(timer.C, nil)
		}
	} else {
		r.mark(ShutdownInitiated, began)
	}
	r.mark(DelayElapsed, time.Now())
	r.log.Info("drain: delay elapsed, draining", "event", DelayElapsed, "elapsed", r.elapsed())

	forced := r.drain()
	r.stoppedAccepting() // if a server never said so
	r.mark(Drained, time.Now())
	r.log.Info("drain: drained", "event", Drained, "elapsed", r.elapsed(), "forced", forced)

	// The cleanup gets what is left of Timeout, and at least the reserve,
	// but never more than Timeout + CleanupReserve after the start.
	reserve := cmp.Or(r.g.CleanupReserve, DefaultCleanupReserve)
	cleanupDeadline := time.Now().Add(reserve)
	if deadline.After(cleanupDeadline) {
		cleanupDeadline = deadline
	}
	if latest := deadline.Add(reserve); cleanupDeadline.After(latest) {
		cleanupDeadline = latest
	}
	cctx, cancelCleanup := context.WithDeadlineCause(fctx, cleanupDeadline, errors.New("drain: cleanup budget ended"))
	defer cancelCleanup()
	r.runCleanups(cctx)
	svc.stop()
	r.mark(CleanupDone, time.Now())
	r.g.mu.Lock()
	health := r.g.health
	r.errs = append(r.errs, r.g.misuse...) // calls made while Run ran, Cleanup's included
	r.g.mu.Unlock()
	if health != nil {
		if err := health.stop(); err != nil {
			r.errs = append(r.errs, err)
		}
	}

	err := errors.Join(r.errs...)
	attrs := []any{"event", CleanupDone, "duration", r.elapsed(), "exit_code", ExitCode(err)}
	switch {
	case forced:
		r.log.Error("drain: shutdown forced", attrs...)
	case err != nil:
		r.log.Error("drain: shutdown finished with errors", append(attrs, "err", err)...)
	default:
		r.log.Info("drain: shutdown complete", attrs...)
	}
	if svc.standDone != nil {
		// See Upgrader.Foreground: Run returns when the service ends.
		close(svc.reap)
		served := <-svc.standDone
		r.log.Info("drain: the service has ended: every process after this one has exited", "err", served)
		err = errors.Join(err, served)
	}
	return err
}

// mark records an event in the group's lifecycle.
func (r *run) mark(e Event, t time.Time) { r.g.life.mark(e, t) }

// elapsed is the time since the shutdown began.
func (r *run) elapsed() time.Duration { return time.Since(r.began).Round(time.Millisecond) }

// prepare tells the servers that can hear it that the shutdown has begun.
func (r *run) prepare() {
	for i, m := range r.members {
		if len(m.after) > 0 {
			continue // it hears of the shutdown once they have finished
		}
		if p, ok := m.s.(ShutdownPreparer); ok {
			r.call(i, callPrepare, func() error { p.PrepareShutdown(); return nil })
		}
	}
}

// preparing reports whether a PrepareShutdown call is still running.
func (r *run) preparing() bool {
	return slices.ContainsFunc(r.members, func(m *member) bool { return m.running[callPrepare] })
}

// serveOn serves on during the shutdown delay until stop fires or until
// holds. It returns true, ending the delay, if a server fails or a second
// signal forces the shutdown.
func (r *run) serveOn(stop <-chan time.Time, until func() bool) (ended bool) {
	for until == nil || !until() {
		select {
		case <-stop:
			return true
		case <-r.dctx.Done():
			return true
		case res := <-r.results:
			r.handle(res, false)
			if res.kind == callServe {
				r.log.Warn("drain: server failed during the shutdown delay; draining now", "server", r.members[res.i].name)
				return true
			}
		case sig := <-r.sigc:
			r.onSignal(sig)
		}
	}
	return false
}

// closeWait is how long Run waits, once it has closed the servers that
// had not finished at the deadline, for their Serve, Shutdown and Close to
// return, before it abandons them.
const closeWait = 500 * time.Millisecond

// drain shuts every server down in parallel. When r.dctx ends (at the
// deadline, or when a second signal arrives), it closes every server that
// has not finished, each on its own, and abandons those whose calls have
// not returned closeWait later. It reports whether it had to force.
func (r *run) drain() (forced bool) {
	r.shutDownReady()
	stopped, stopWatching := r.watchAccepting()
	defer stopWatching()

	progress := newProgress()
	defer progress.stop()
	deadline := r.dctx.Done()
	var abandon <-chan time.Time
	for !r.allFinished() {
		select {
		case res := <-r.results:
			r.handle(res, true)
			if deadline != nil {
				r.shutDownReady()
			}
		case <-deadline:
			deadline = nil
			forced = true
			cause := context.Cause(r.dctx)
			r.errs = append(r.errs, cause)
			r.log.Warn("drain: forcing shutdown", "cause", cause)
			for i, m := range r.members {
				if !m.finished() {
					r.call(i, callClose, m.s.Close)
				}
			}
			t := time.NewTimer(closeWait)
			defer t.Stop()
			abandon = t.C
		case <-abandon:
			r.abandon()
			return forced
		case <-stopped:
			r.stoppedAccepting()
			stopped = nil
		case sig := <-r.sigc:
			r.onSignal(sig)
		case <-progress.c():
			r.logOpen("drain: waiting", "elapsed", r.elapsed())
			progress.next()
		}
	}
	return forced
}

// shutDownReady calls Shutdown on every server that is not waiting for
// others to finish (see AddAfter).
func (r *run) shutDownReady() {
	for i, m := range r.members {
		if !slices.ContainsFunc(m.after, func(d int) bool { return !r.members[d].finished() }) {
			r.call(i, callShutdown, func() error { return m.s.Shutdown(r.dctx) })
		}
	}
}

// allFinished reports whether every server is done with.
func (r *run) allFinished() bool {
	return !slices.ContainsFunc(r.members, func(m *member) bool { return !m.finished() })
}

// abandon gives up on the servers whose calls are still running after
// they were closed: it names them in the log and in Run's result.
func (r *run) abandon() {
	for _, m := range r.members {
		if !m.busy() {
			continue
		}
		calls := m.runningCalls()
		r.errs = append(r.errs, fmt.Errorf("%w: server %s abandoned: %s still running %v after Close was called", ErrForced, m.name, calls, closeWait))
		r.log.Error("drain: server abandoned, still running", "server", m.name, "calls", calls, "after_close", closeWait)
	}
}

// handle records what a call to a server returned. A Shutdown that fails
// (not for want of time) is followed by Close at once.
func (r *run) handle(res callResult, shuttingDown bool) {
	m := r.members[res.i]
	m.running[res.kind] = false
	m.done[res.kind] = true
	switch res.kind {
	case callServe:
		r.onServed(m, res.err, shuttingDown)
	case callPrepare:
		if res.err != nil {
			r.errs = append(r.errs, fmt.Errorf("drain: server %s: prepare shutdown: %w", m.name, res.err))
		}
	case callShutdown:
		switch {
		case res.err == nil:
			m.drained = true
			r.log.Info("drain: server drained", "server", m.name, "elapsed", r.elapsed())
		case r.dctx.Err() != nil:
			// Out of time: Close is called, or about to be.
		default:
			r.errs = append(r.errs, fmt.Errorf("drain: server %s: shutdown: %w", m.name, res.err))
			r.call(res.i, callClose, m.s.Close)
		}
	case callClose:
		if res.err != nil {
			r.errs = append(r.errs, fmt.Errorf("drain: server %s: close: %w", m.name, res.err))
		}
	}
}

// stoppedAccepting records and logs the StoppedAccepting event, once.
func (r *run) stoppedAccepting() {
	if r.g.life.mark(StoppedAccepting, time.Now()) {
		r.log.Info("drain: stopped accepting", "event", StoppedAccepting, "elapsed", r.elapsed())
	}
}

// watchAccepting returns a channel that is closed once every server that
// can tell has stopped accepting. The watching ends when stop is called.
func (r *run) watchAccepting() (_ <-chan struct{}, stop func()) {
	var chans []<-chan struct{}
	for _, m := range r.members {
		if a, ok := m.s.(AcceptingReporter); ok {
			var ch <-chan struct{}
			if protect(func() error { ch = a.NotAccepting(); return nil }) == nil {
				chans = append(chans, ch)
			}
		}
	}
	all := make(chan struct{})
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned: stop waits for it
		defer close(done)
		for _, ch := range chans {
			select {
			case <-ch:
			case <-quit:
				return
			}
		}
		close(all)
	}()
	return all, func() {
		close(quit)
		<-done
	}
}

// runCleanups runs the cleanup functions, newest first, each with cctx,
// which ends at the cleanup's deadline or when a second signal forces the
// shutdown.
func (r *run) runCleanups(cctx context.Context) {
	r.g.mu.Lock()
	r.g.state = groupCleaning
	cleanups := r.g.cleanups
	r.g.mu.Unlock()

	for i := len(cleanups) - 1; i >= 0; i-- {
		c := cleanups[i]
		name := cmp.Or(c.name, fmt.Sprintf("cleanup %d", i))
		start := time.Now()
		done := make(chan error, 1)
		go func() { // owned below, or abandoned
			if c.fn == nil { // registered while serving
				done <- fmt.Errorf("%w: no function", ErrInvalid)
				return
			}
			done <- protect(func() error { return c.fn(cctx) })
		}()
		var err error
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case sig := <-r.sigc:
				r.onSignal(sig)
			case <-cctx.Done():
				// A function that heeds its context returns at once;
				// give it a moment to.
				linger := time.NewTimer(cleanupLinger)
				select {
				case err = <-done:
				case <-linger.C:
					err = fmt.Errorf("abandoned, still running: %w", context.Cause(cctx))
				}
				linger.Stop()
				break wait
			}
		}
		took := time.Since(start).Round(time.Microsecond)
		if err != nil {
			err = fmt.Errorf("drain: cleanup %q: %w", name, err)
			r.errs = append(r.errs, err)
			r.log.Error("drain: cleanup failed", "cleanup", name, "duration", took, "err", err)
			continue
		}
		r.log.Info("drain: cleanup ran", "cleanup", name, "duration", took)
	}
}

// cleanupLinger is how long a cleanup function still gets to return once
// its context has ended, before it is abandoned.
const cleanupLinger = 50 * time.Millisecond

// protect calls fn, turning a panic into a *panicError: user code (a
// cleanup function, a Server of another package) cannot stop the shutdown.
func protect(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	return fn()
}

// onSignal handles a signal that arrives during the shutdown: the first
// only arms the next one, which forces the shutdown unless the group
// ignores second signals.
func (r *run) onSignal(sig os.Signal) {
	switch {
	case r.svc.handedOff && r.svc.standDone != nil:
		r.log.Info("drain: signal passed on to the process serving now; this one drains what it had", "signal", sig.String())
	case r.svc.handedOff:
		// Another process serves now. Under systemd, stopping the service
		// signals every process of its control group: this one only
		// drains what it had, within its bound.
		r.log.Info("drain: signal ignored: the sockets went to another process, and this one drains what it had", "signal", sig.String())
	case !r.signalled:
		r.signalled = true
		r.log.Info("drain: signal during shutdown; another one forces it", "signal", sig.String())
	case r.g.IgnoreSecondSignal:
		r.log.Info("drain: signal ignored, still draining", "signal", sig.String())
	default:
		r.log.Warn("drain: second signal, forcing shutdown", "signal", sig.String())
		r.force(fmt.Errorf("%w: second signal %v", ErrForced, sig))
	}
}

// onServed records that a server's Serve returned. Serve returning before
// the shutdown began is a failure even when its error is nil.
func (r *run) onServed(m *member, err error, shuttingDown bool) {
	switch {
	case err != nil:
		r.errs = append(r.errs, fmt.Errorf("drain: server %s: %w", m.name, err))
		r.log.Error("drain: server failed", "server", m.name, "err", err)
	case !shuttingDown:
		r.errs = append(r.errs, fmt.Errorf("drain: server %s stopped serving before shutdown", m.name))
		r.log.Error("drain: server stopped serving before shutdown", "server", m.name)
	}
}

// logOpen logs, for each server that has not drained, what it holds open.
func (r *run) logOpen(msg string, attrs ...any) {
	for _, m := range r.members {
		if m.drained {
			continue
		}
		open := slog.String("state", "draining")
		if st, ok := statsOf(m.s); ok {
			open = slog.Attr{Value: st.logValue()} // its attributes, inlined
		}
		r.log.Info(msg, append([]any{"server", m.name, open}, attrs...)...)
	}
}

// serverName names a server in logs and errors: its String method, or its
// position in the group.
func serverName(s Server, i int) string {
	if st, ok := s.(fmt.Stringer); ok {
		var name string
		if protect(func() error { name = st.String(); return nil }) == nil && name != "" {
			return name
		}
	}
	return fmt.Sprintf("#%d", i)
}

// A progress times the "still waiting" logs of a long drain: after 1s, 2s,
// 4s, then every 5s.
type progress struct {
	every time.Duration
	timer *time.Timer
}

const (
	progressFirst = time.Second
	progressMax   = 5 * time.Second
)

func newProgress() *progress {
	return &progress{every: progressFirst, timer: time.NewTimer(progressFirst)}
}

func (p *progress) c() <-chan time.Time { return p.timer.C }

func (p *progress) next() {
	p.every = min(2*p.every, progressMax)
	p.timer.Reset(p.every)
}

func (p *progress) stop() { p.timer.Stop() }

// Parallel returns a cleanup function, for [Group.Cleanup], that runs
// independent functions at once (flushing three telemetry exporters, say),
// so that a slow one does not starve the others of the budget they share.
// It returns when every one has returned, with their errors joined, each
// named by its key. One that is still running 25ms after the context ended
// is abandoned and named in the error: half the 50ms after which the group
// abandons a cleanup function, so that the group hears which one it was.
//
//	g.Cleanup("telemetry", drain.Parallel(map[string]func(context.Context) error{
//		"traces":  tracerProvider.ForceFlush,
//		"metrics": meterProvider.ForceFlush,
//	}))
func Parallel(fns map[string]func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		type result struct {
			name string
			err  error
		}
		results := make(chan result, len(fns)) // room for all: an abandoned one still ends
		for name, fn := range fns {
			go func() { // owned below, or abandoned with the cleanup
				err := fmt.Errorf("%w: no function", ErrInvalid)
				if fn != nil {
					err = protect(func() error { return fn(ctx) })
				}
				results <- result{name, err}
			}()
		}
		errs := make(map[string]error, len(fns))
		var linger <-chan time.Time
		done := ctx.Done()
	wait:
		for len(errs) < len(fns) {
			select {
			case r := <-results:
				errs[r.name] = r.err
			case <-done:
				done = nil
				t := time.NewTimer(cleanupLinger / 2)
				defer t.Stop()
				linger = t.C
			case <-linger:
				break wait
			}
		}
		var joined []error
		for _, name := range slices.Sorted(maps.Keys(fns)) {
			err, returned := errs[name]
			if !returned {
				err = fmt.Errorf("abandoned, still running: %w", context.Cause(ctx))
			}
			if err != nil {
				joined = append(joined, fmt.Errorf("%s: %w", name, err))
			}
		}
		return errors.Join(joined...)
	}
}
