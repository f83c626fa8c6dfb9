package drain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
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

	// Logger receives the story of the shutdown: why it began, what was
	// open, what it waits for, what was forced and how long each cleanup
	// took. Servers that have no logger of their own use it too.
	// Defaults to [slog.Default].
	Logger *slog.Logger

	mu       sync.Mutex
	servers  []Server
	cleanups []cleanup
	late     []error // Add or Cleanup calls that came too late
	state    groupState
	cleaned  []CleanupResult
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
		g.late = append(g.late, fmt.Errorf("%w: Add called after Run started", ErrInvalid))
		return
	}
	g.servers = append(g.servers, s)
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
		g.late = append(g.late, fmt.Errorf("%w: Cleanup(%q) called after the cleanup started", ErrInvalid, name))
		return
	}
	g.cleanups = append(g.cleanups, cleanup{name: name, fn: fn})
}

// Run serves every server added with Add until one of these happens: a
// signal from Signals arrives, ctx ends, or a server fails (it could not
// listen, for example). Then it shuts down:
//
//  1. it logs why, and what is open; readiness ([Group.Health]) fails
//     from now on;
//  2. with a ShutdownDelay, it tells the servers that can hear it
//     ([ShutdownPreparer]) and serves on for the delay;
//  3. it calls every server's Shutdown at once, so all of them stop
//     accepting and drain in parallel, logging what they wait for while it
//     lasts;
//  4. if the shutdown outlasts Timeout, or a second signal arrives, it
//     calls every unfinished server's Close, which cancels the handlers
//     still running and closes their connections;
//  5. it runs the cleanup functions, newest first;
//  6. it returns nil if everything drained and cleaned up, or the joined
//     errors: why a server failed, [ErrForced] if the drain was forced, and
//     each cleanup function's error.
//
// Each step is an [Event], logged and observable with [Group.Happened].
// Run returns only when all of this is done (a cleanup function or a
// readiness check that ignores its context excepted), so returning from
// main after it cannot cut a drain short. Pass its result to [ExitCode] for the process's exit code.
// Run never exits the process itself.
//
// Run checks the configuration first and returns an error wrapping
// [ErrInvalid] before starting anything if it is wrong. Run may be called
// only once.
func (g *Group) Run(ctx context.Context) error {
	servers, err := g.start(ctx)
	if err != nil {
		return err
	}
	r := &run{
		g:       g,
		log:     g.logger(),
		servers: servers,
		names:   make([]string, len(servers)),
		served:  make(chan result, len(servers)),
		serving: len(servers),
	}
	for i, s := range servers {
		r.names[i] = serverName(s, i)
		if l, ok := s.(interface{ inheritLogger(*slog.Logger) }); ok {
			l.inheritLogger(r.log)
		}
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

	for i, s := range servers {
		r.wg.Go(func() { r.served <- result{i, protect(s.Serve)} })
	}
	err = r.run(ctx)
	r.wg.Wait()
	return err
}

// start validates the configuration and marks the group as started.
func (g *Group) start(ctx context.Context) ([]Server, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != groupNew {
		return nil, fmt.Errorf("%w: Run called twice", ErrInvalid)
	}
	g.state = groupServing
	var errs []error
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
	for i, s := range g.servers {
		if s == nil {
			errs = append(errs, fmt.Errorf("server %d is nil", i))
			continue
		}
		if v, ok := s.(interface{ validate() error }); ok {
			if err := v.validate(); err != nil {
				errs = append(errs, fmt.Errorf("server %s: %w", serverName(s, i), err))
			}
		}
	}
	if g.health != nil {
		if err := g.health.validate(); err != nil {
			errs = append(errs, fmt.Errorf("health: %w", err))
		}
	}
	for i, c := range g.cleanups {
		if c.fn == nil {
			errs = append(errs, fmt.Errorf("cleanup %d (%q) has no function", i, c.name))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return g.servers, nil
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
// not happened yet.
func (g *Group) When(e Event) time.Time { return g.life.when(e) }

// Phase returns the phase the group is in: the last event that has
// happened, and false if Run has not started.
func (g *Group) Phase() (Event, bool) { return g.life.current() }

// A CleanupResult is what became of one cleanup function.
type CleanupResult struct {
	Name     string        // as given to Cleanup, or "cleanup N"
	Duration time.Duration // how long it ran, or until it was abandoned
	Err      error         // what it returned; nil if it succeeded
}

// Cleanups returns what became of the cleanup functions that have run, in
// the order they ran.
func (g *Group) Cleanups() []CleanupResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.cleaned)
}

// ServerStats are the [Stats] of one server of a group.
type ServerStats struct {
	Name string // the server's name in logs: its String method, or "#N"
	Stats
}

// Stats returns what each server that can tell (an [HTTP] can) holds
// open now, in the order they were added.
func (g *Group) Stats() []ServerStats {
	g.mu.Lock()
	servers := g.servers
	g.mu.Unlock()
	var stats []ServerStats
	for i, s := range servers {
		if st, ok := s.(interface{ Stats() Stats }); ok {
			stats = append(stats, ServerStats{Name: serverName(s, i), Stats: st.Stats()})
		}
	}
	return stats
}

func (g *Group) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

// A result is what a server's Serve or Shutdown returned.
type result struct {
	i   int
	err error
}

// A run holds the state of one call to Run. Only Run's goroutine touches
// it, apart from the channels.
type run struct {
	g       *Group
	log     *slog.Logger
	servers []Server
	names   []string
	wg      sync.WaitGroup // Serve and Shutdown calls

	began     time.Time      // the shutdown began
	sigc      chan os.Signal // nil when no signal is watched
	signalled bool           // a signal has arrived: the next one forces
	force     context.CancelCauseFunc

	served  chan result // Serve returned
	serving int         // servers whose Serve has not returned
	errs    []error
}

func (r *run) run(ctx context.Context) error {
	r.mark(Serving, time.Now())
	r.log.Info("drain: running", "event", Serving, "servers", len(r.servers))

	// Serve until something asks for a shutdown.
	var why []any
	failed := false
	select {
	case sig := <-r.sigc:
		r.signalled = true
		why = []any{"signal", sig.String()}
	case <-ctx.Done():
		why = []any{"reason", "context done", "cause", context.Cause(ctx)}
	case res := <-r.served:
		r.onServed(res, false)
		failed = true
		why = []any{"reason", "server failed", "server", r.names[res.i]}
	}

	began := time.Now()
	r.began = began
	timeout := cmp.Or(r.g.Timeout, DefaultTimeout)
	deadline := began.Add(timeout)
	r.mark(ShutdownInitiated, began)
	delay := r.g.ShutdownDelay
	if failed {
		delay = 0 // a broken group serves no better for waiting
	}
	r.log.Info("drain: shutdown began", append(why, "event", ShutdownInitiated, "delay", delay, "timeout", timeout)...)
	r.logOpen(slog.LevelInfo, "drain: open", nil)

	// The budget covers the delay and the drain; a second signal ends it.
	bctx, cancel := r.budget(ctx, deadline, fmt.Errorf("%w: timeout %v expired", ErrForced, timeout))
	defer cancel()
	if delay > 0 {
		// Without a delay there is nothing to prepare: telling clients
		// to reconnect before the listener closes would send them into
		// its closing.
		r.prepare()
		r.delay(bctx, delay)
	}
	r.mark(DelayElapsed, time.Now())
	r.log.Info("drain: delay elapsed, draining", "event", DelayElapsed, "elapsed", r.elapsed())

	forced := r.drain(bctx)

	// Every Serve returns promptly once its server has drained or closed.
	for r.serving > 0 {
		r.onServed(<-r.served, true)
	}
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
	r.runCleanups(ctx, cleanupDeadline)
	r.mark(CleanupDone, time.Now())
	r.g.mu.Lock()
	health := r.g.health
	r.errs = append(r.errs, r.g.late...) // calls that came too late, cleanup included
	r.g.mu.Unlock()
	if health != nil {
		health.stop()
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
	return err
}

// mark records an event in the group's lifecycle.
func (r *run) mark(e Event, t time.Time) { r.g.life.mark(e, t) }

// elapsed is the time since the shutdown began.
func (r *run) elapsed() time.Duration { return time.Since(r.began).Round(time.Millisecond) }

// prepare tells the servers that can hear it that the shutdown has begun.
func (r *run) prepare() {
	for i, s := range r.servers {
		p, ok := s.(ShutdownPreparer)
		if !ok {
			continue
		}
		if err := protect(func() error { p.PrepareShutdown(); return nil }); err != nil {
			r.errs = append(r.errs, fmt.Errorf("drain: server %s: prepare shutdown: %w", r.names[i], err))
		}
	}
}

// delay serves on for d, unless a server fails or a second signal forces
// the shutdown (which ends bctx).
func (r *run) delay(bctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return
		case <-bctx.Done():
			return
		case res := <-r.served:
			r.onServed(res, false)
			r.log.Warn("drain: server failed during the shutdown delay; draining now", "server", r.names[res.i])
			return
		case sig := <-r.sigc:
			r.onSignal(sig)
		}
	}
}

// drain shuts every server down in parallel and forces those that have not
// finished when dctx ends: at the deadline, or when a second signal
// arrives. It reports whether it had to force.
func (r *run) drain(dctx context.Context) (forced bool) {
	shut := make(chan result, len(r.servers))
	for i, s := range r.servers {
		r.wg.Go(func() { shut <- result{i, protect(func() error { return s.Shutdown(dctx) })} })
	}
	stopped, stopWatching := r.watchAccepting()
	defer stopWatching()

	done := make([]bool, len(r.servers))
	var unfinished []int
	progress := newProgress()
	defer progress.stop()
	for pending := len(r.servers); pending > 0; {
		select {
		case res := <-shut:
			pending--
			switch {
			case res.err == nil:
				done[res.i] = true
				r.log.Info("drain: server drained", "server", r.names[res.i], "elapsed", r.elapsed())
			case dctx.Err() != nil:
				unfinished = append(unfinished, res.i)
			default:
				unfinished = append(unfinished, res.i)
				r.errs = append(r.errs, fmt.Errorf("drain: server %s: shutdown: %w", r.names[res.i], res.err))
			}
		case <-stopped:
			r.stoppedAccepting()
			stopped = nil
		case res := <-r.served:
			r.onServed(res, true)
		case sig := <-r.sigc:
			r.onSignal(sig)
		case <-progress.c():
			r.logOpen(slog.LevelInfo, "drain: waiting", done, "elapsed", r.elapsed())
			progress.next()
		}
	}
	if len(unfinished) > 0 {
		if cause := context.Cause(dctx); dctx.Err() != nil {
			forced = true
			r.errs = append(r.errs, cause)
			r.log.Warn("drain: forcing shutdown", "cause", cause)
		}
		for _, i := range unfinished {
			if err := protect(r.servers[i].Close); err != nil {
				r.errs = append(r.errs, fmt.Errorf("drain: server %s: close: %w", r.names[i], err))
			}
		}
	}
	if r.allStoppedAccepting() {
		// The servers finished, or were closed, before the watch said so.
		r.stoppedAccepting()
	}
	return forced
}

// stoppedAccepting records and logs the StoppedAccepting event, once.
func (r *run) stoppedAccepting() {
	if r.g.life.mark(StoppedAccepting, time.Now()) {
		r.log.Info("drain: stopped accepting", "event", StoppedAccepting, "elapsed", r.elapsed())
	}
}

// allStoppedAccepting reports whether every server that can tell has
// stopped accepting.
func (r *run) allStoppedAccepting() bool {
	for _, s := range r.servers {
		if a, ok := s.(AcceptingReporter); ok {
			select {
			case <-a.NotAccepting():
			default:
				return false
			}
		}
	}
	return true
}

// watchAccepting returns a channel that is closed once every server that
// can tell has stopped accepting. The watching ends when stop is called.
func (r *run) watchAccepting() (_ <-chan struct{}, stop func()) {
	all := make(chan struct{})
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned: stop waits for it
		defer close(done)
		for _, s := range r.servers {
			if a, ok := s.(AcceptingReporter); ok {
				select {
				case <-a.NotAccepting():
				case <-quit:
					return
				}
			}
		}
		close(all)
	}()
	return all, func() {
		close(quit)
		<-done
	}
}

// runCleanups runs the cleanup functions, newest first, each with a context
// that ends at deadline or when a second signal forces the shutdown.
func (r *run) runCleanups(ctx context.Context, deadline time.Time) {
	r.g.mu.Lock()
	r.g.state = groupCleaning
	cleanups := r.g.cleanups
	r.g.mu.Unlock()
	if len(cleanups) == 0 {
		return
	}

	cctx, cancel := r.budget(ctx, deadline, errors.New("drain: cleanup budget ended"))
	defer cancel()

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
		r.g.mu.Lock()
		r.g.cleaned = append(r.g.cleaned, CleanupResult{Name: name, Duration: took, Err: err})
		r.g.mu.Unlock()
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

// protect calls fn, turning a panic into a *PanicError: user code (a
// cleanup function, a Server of another package) cannot stop the shutdown.
func protect(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = newPanicError(v)
		}
	}()
	return fn()
}

// budget returns a context that carries ctx's values, and ends with cause
// at deadline, or at once if a second signal forces the shutdown (see
// onSignal); cancel releases it.
func (r *run) budget(ctx context.Context, deadline time.Time, cause error) (_ context.Context, cancel func()) {
	forceCtx, force := context.WithCancelCause(context.WithoutCancel(ctx))
	bctx, cancelDeadline := context.WithDeadlineCause(forceCtx, deadline, cause)
	r.force = force
	return bctx, func() {
		r.force = nil
		cancelDeadline()
		force(nil)
	}
}

// onSignal handles a signal that arrives during the shutdown: the first
// only arms the next one, which forces the shutdown unless the group
// ignores second signals.
func (r *run) onSignal(sig os.Signal) {
	switch {
	case !r.signalled:
		r.signalled = true
		r.log.Info("drain: signal during shutdown; another one forces it", "signal", sig.String())
	case r.g.IgnoreSecondSignal:
		r.log.Info("drain: signal ignored, still draining", "signal", sig.String())
	case r.force != nil:
		r.log.Warn("drain: second signal, forcing shutdown", "signal", sig.String())
		r.force(fmt.Errorf("%w: second signal %v", ErrForced, sig))
	}
}

// onServed records a Serve result. Serve returning before the shutdown
// began is a failure even when its error is nil.
func (r *run) onServed(res result, shuttingDown bool) {
	r.serving--
	switch {
	case res.err != nil:
		r.errs = append(r.errs, fmt.Errorf("drain: server %s: %w", r.names[res.i], res.err))
		r.log.Error("drain: server failed", "server", r.names[res.i], "err", res.err)
	case !shuttingDown:
		r.errs = append(r.errs, fmt.Errorf("drain: server %s stopped serving before shutdown", r.names[res.i]))
		r.log.Error("drain: server stopped serving before shutdown", "server", r.names[res.i])
	}
}

// logOpen logs, for each server that is not done, what it holds open.
func (r *run) logOpen(level slog.Level, msg string, done []bool, attrs ...any) {
	for i, s := range r.servers {
		if done != nil && done[i] {
			continue
		}
		open := slog.Any("", s) // a slog.LogValuer's attributes, inlined
		if _, ok := s.(slog.LogValuer); !ok {
			open = slog.String("state", "draining")
		}
		r.log.Log(context.Background(), level, msg, append([]any{"server", r.names[i], open}, attrs...)...)
	}
}

// serverName names a server in logs and errors: its String method, or its
// position in the group.
func serverName(s Server, i int) string {
	if st, ok := s.(fmt.Stringer); ok {
		if name := st.String(); name != "" {
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
