package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// settle is how long the load may go on once the process has exited.
// Every connection to a dead process fails at once, so the load normally
// ends within microseconds; settle only bounds it if something else
// answers on the port (another instance, behind a balancer).
const settle = 2 * time.Second

// A proc is the process whose shutdown is measured: the probe's child
// (serverProcess) or a process it watches ([Config.PID]).
type proc interface {
	processID() int
	signal(os.Signal) error
	kill() error
	done() <-chan struct{}
	exit() Exit
	close() error
}

// Run starts the server (or, in target mode, finds it serving), loads it,
// signals it, waits for it to exit and reports what became of every
// request. See the package documentation for the sequence, and [Config]
// for the modes.
//
// Run returns an error if the config is invalid, if the server could not
// be started or did not become ready, if it exited before the signal (a
// [*DaemonError] if it left a process serving on its port), if ctx ended,
// or if [Config.Progress] panicked; in the last three cases it returns the
// report of what happened so far too, and the server's output is in the
// report, not in the error. The process it started, and what that process
// started, are killed and reaped, every connection closed and every
// goroutine ended before Run returns.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	began := time.Now()
	c, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	rec := newRecorder(c.MaxRecords)
	prog := startProgress(c.Progress, began, rec)
	defer func() {
		if perr := prog.end(); perr != nil {
			err = errors.Join(err, perr)
		}
	}()
	r := &run{cfg: c, rec: rec, prog: prog}
	return r.run(ctx)
}

// A run is the state of one call to Run.
type run struct {
	cfg  *resolved
	rec  *recorder
	prog *progress
}

func (r *run) run(ctx context.Context) (*Report, error) {
	c := r.cfg
	rep := &Report{Load: c.Load, Target: c.Target}
	if c.signalled() {
		rep.Warmup, rep.Signal, rep.SignalGroup = c.Warmup, c.Signal, c.SignalGroup
		rep.HoldQuiet = c.HoldQuiet
	}

	// The process, or the target.
	p, addr, host, err := r.start(ctx, rep)
	if err != nil {
		return nil, err
	}
	if p != nil {
		defer p.close()
	}

	w, err := newWatcher()
	if err != nil {
		return nil, err
	}
	defer w.stop()
	d := newDriver(addr, host, c.Load, r.rec, w)
	r.prog.d.Store(d)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup // the busy clients, the slow requests and the stream readers
	defer func() {
		// On every path: stop the load, wait for it, close what it holds.
		stopLoad()
		wg.Wait()
		w.stop()
		d.close()
	}()

	var mon *monitor
	finish := func() *Report {
		stopLoad()
		wg.Wait()
		rep.End = time.Now()
		if mon != nil {
			rep.LagP99, rep.LagMax = mon.end()
		}
		w.stop()
		rep.fill(r.rec, d)
		if sp, ok := p.(*serverProcess); ok {
			rep.Output = sp.output()
		}
		rep.Verdict = rep.judge(c.MaxExitLag)
		return rep
	}

	d.openIdle(lctx)
	d.openSilent(lctx)
	d.openStreams(lctx)
	if err := d.checkAnswers(lctx); err != nil {
		abandon(p, rep)
		return finish(), err
	}
	rep.Start = time.Now()
	planned := rep.Start.Add(c.Warmup) // when the signal is due
	if c.signalled() {
		r.rec.timeline.begin(rep.Start, planned, c.Warmup+c.KillAfter+2*settle+time.Second)
	} else {
		r.rec.timeline.begin(rep.Start, time.Time{}, c.Duration+time.Second)
	}
	mon = startMonitor()
	list, _, _, _ := d.streams.opened()
	for _, st := range list {
		wg.Go(func() { d.readStream(lctx, st) })
	}
	for i := range c.Load.Slow {
		wg.Go(func() { d.slow(lctx, i) })
	}
	for i := range c.Load.Busy {
		wg.Go(func() { d.busy(lctx, i) })
	}

	timer := time.NewTimer(c.Warmup)
	defer timer.Stop()
	if p == nil {
		// Target mode without a process: the load runs for Duration.
		r.prog.set(PhaseRunning)
		timer.Reset(c.Duration)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return finish(), fmt.Errorf("probe: during the load: %w", ctx.Err())
		}
		return finish(), nil
	}

	// The warm-up.
	r.prog.set(PhaseWarmup)
	select {
	case <-timer.C:
	case <-p.done():
		rep.Exit = p.exit()
		r.prog.set(PhaseExited)
		return finish(), exitedEarly(p)
	case <-ctx.Done():
		abandon(p, rep)
		return finish(), fmt.Errorf("probe: before the signal: %w", ctx.Err())
	}

	rep.SignalAt = time.Now()
	rep.SignalLag = rep.SignalAt.Sub(planned)
	r.rec.signalled(rep.SignalAt)
	send := p.signal
	if c.SignalGroup {
		send = p.(*serverProcess).signalGroup // resolve allows it only for a started process
	}
	if err := send(c.Signal); err != nil {
		abandon(p, rep)
		return finish(), err
	}
	r.prog.set(PhaseSignalled)

	// The shutdown, under load. Once the server has had nothing to answer
	// for MaxExitLag, the quiet connections still open are closed:
	// whether it then exits tells whether it waited for them.
	timer.Reset(c.KillAfter)
	quiet := time.NewTimer(c.MaxExitLag)
	defer quiet.Stop()
	if c.HoldQuiet {
		quiet.Stop()
	}
	for exited := false; !exited; {
		select {
		case <-p.done():
			exited = true
		case <-quiet.C:
			select {
			case <-p.done(): // exited meanwhile: nothing to find out
				exited = true
				continue
			default:
			}
			next, closedAt := d.closeQuiet(rep.SignalAt, c.MaxExitLag)
			if !closedAt.IsZero() {
				rep.QuietClosedAt = closedAt
			}
			if next > 0 {
				quiet.Reset(next)
			}
		case <-timer.C:
			if err := p.kill(); err != nil {
				return finish(), fmt.Errorf("probe: after the grace period: %w", err)
			}
			// A child dies at once; a process the probe did not start
			// might not, if the signal did not reach it.
			timer.Reset(settle)
			select {
			case <-p.done():
				exited = true
			case <-timer.C:
				return finish(), fmt.Errorf("probe: process %d still running %v after SIGKILL", p.processID(), settle)
			case <-ctx.Done():
				return finish(), fmt.Errorf("probe: after the grace period: %w", ctx.Err())
			}
		case <-ctx.Done():
			abandon(p, rep)
			return finish(), fmt.Errorf("probe: during the shutdown: %w", ctx.Err())
		}
	}
	rep.Exit = p.exit()
	d.exited.Store(true)
	r.prog.set(PhaseExited)

	// Once the process is gone every connection to it fails at once, and
	// the load ends by itself; bound it anyway.
	loadDone := make(chan struct{})
	go func() { // owned: waited for below
		wg.Wait()
		close(loadDone)
	}()
	timer.Reset(settle)
	select {
	case <-loadDone:
	case <-timer.C:
		stopLoad()
		<-loadDone
	}
	return finish(), nil
}

// start starts the server, or in target mode starts watching the process
// if there is one, and waits until the server is ready. It returns the
// process (nil in target mode without PID), the address to load and the
// Host header.
func (r *run) start(ctx context.Context, rep *Report) (proc, string, string, error) {
	c := r.cfg
	if c.Target == "" {
		p, err := startServer(ctx, c.Server)
		if err != nil {
			return nil, "", "", err
		}
		rep.Addr, rep.Command, rep.PID = p.address(), p.args(), p.processID()
		return p, p.address(), p.address(), nil
	}
	rep.Addr = c.addr
	var p proc
	var done <-chan struct{}
	if c.PID != 0 {
		w, err := watchPID(c.PID)
		if err != nil {
			return nil, "", "", err
		}
		p, done, rep.PID = w, w.done(), c.PID
	}
	ready := c.Server.readiness(c.addr)
	ready.host = c.host
	if err := ready.wait(ctx, done); err != nil {
		if p != nil {
			p.close()
		}
		if errors.Is(err, errGone) {
			err = fmt.Errorf("%w before the load: process %d", ErrExited, c.PID)
		}
		return nil, "", "", err
	}
	return p, c.addr, c.host, nil
}

// abandon ends a run cut short: the probe's child is killed and reaped; a
// process it did not start is left alone.
func abandon(p proc, rep *Report) {
	if sp, ok := p.(*serverProcess); ok {
		sp.close()
		rep.Exit = sp.exit()
	}
}

// exitedEarly returns the error for a process that exited before the
// signal: for the probe's child, a *DaemonError if it left a process
// serving on its port. The child's output is in the report, not in the
// error.
func exitedEarly(p proc) error {
	if sp, ok := p.(*serverProcess); ok {
		return sp.exitedEarly()
	}
	return fmt.Errorf("%w before the signal: exit %v", ErrExited, p.exit())
}
