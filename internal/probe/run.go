package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/drain-go/drain/internal/probe/held"
	"github.com/drain-go/drain/internal/probe/proc"
	"github.com/drain-go/drain/internal/probe/report"
)

// settle is how long the load may go on once the process has exited.
// Every connection to a dead process fails at once, so the load normally
// ends within microseconds; settle only bounds it if something else
// answers on the port (another instance, behind a balancer).
const settle = 2 * time.Second

// A process is the process whose shutdown is measured: the probe's child
// (proc.Server) or a process it watches ([Config.PID]).
type process interface {
	PID() int
	Signal(os.Signal) error
	Kill() error
	Done() <-chan struct{}
	Exit() Exit
	Close() error
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
func Run(ctx context.Context, cfg Config) (rep *report.Report, err error) {
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

func (r *run) run(ctx context.Context) (*report.Report, error) {
	c := r.cfg
	rep := &report.Report{Load: c.Load, Target: c.Target}
	if c.signalled() {
		rep.Warmup, rep.Signal, rep.SignalGroup = c.Warmup, c.Signal, c.SignalGroup
	}
	if u := c.Upgrades; c.upgrading() {
		rep.UpgradeSignal, rep.UpgradeInterval, rep.UpgradeTimeout, rep.PIDFile = u.Signal, u.Interval, u.Timeout, u.PIDFile
		if c.Target == "" && !proc.IsSubreaper() {
			// Each new process is the old one's child: only a subreaper
			// inherits it, and can learn how it ended.
			return nil, errors.New("probe: an upgrade run needs the probe to be a child subreaper: call BecomeSubreaper first")
		}
	}

	// The process, or the target.
	p, addr, host, err := r.start(ctx, rep)
	if err != nil {
		return nil, err
	}
	if p != nil {
		defer p.Close()
	}
	// cur is the process that serves: p, but in an upgrade run, whichever
	// the PID file names.
	cur := p
	var lin *lineage
	if c.upgrading() {
		lin = newLineage(c.Upgrades.Timeout)
		defer lin.close()
		if cur, err = r.firstServing(ctx, lin, p); err != nil {
			abandon(p, rep)
			if sp, ok := p.(*proc.Server); ok {
				err = sp.WithOutput(err)
			}
			return nil, err
		}
		rep.PID = cur.PID()
	}

	w, err := held.NewWatcher()
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	d := newDriver(addr, host, c.Load, r.rec, w)
	d.upgrading.Store(c.upgrading())
	r.prog.d.Store(d)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup // the busy clients, the slow requests and the stream readers
	defer func() {
		// On every path: stop the load, wait for it, close what it holds.
		stopLoad()
		wg.Wait()
		w.Stop()
		d.close()
	}()

	var mon *monitor
	finish := func() *report.Report {
		stopLoad()
		wg.Wait()
		rep.End = time.Now()
		if mon != nil {
			rep.LagP99, rep.LagMax = mon.end()
		}
		w.Stop()
		if lin != nil {
			if ctx.Err() != nil {
				lin.close() // cut short: no waiting for the old processes
			}
			for i, e := range lin.wait() {
				rep.Upgrades[i].OldExit = e
			}
		}
		r.rec.fill(rep, d, c.HoldQuiet && c.signalled())
		if sp, ok := p.(*proc.Server); ok {
			if c.upgrading() {
				sp.FlushOutput(500 * time.Millisecond)
			}
			rep.Output = sp.Output()
		}
		rep.Verdict = rep.Judge(c.MaxExitLag)
		return rep
	}
	// settleLoad waits until the load has ended by itself, as it does once
	// nothing serves on the port, for at most settle.
	settleLoad := func() {
		loadDone := make(chan struct{})
		go func() { // owned: waited for below
			wg.Wait()
			close(loadDone)
		}()
		t := time.NewTimer(settle)
		defer t.Stop()
		select {
		case <-loadDone:
		case <-t.C:
			stopLoad()
			<-loadDone
		}
	}

	d.openIdle(lctx)
	d.openSilent(lctx)
	d.openStreams(lctx)
	if err := d.checkAnswers(lctx); err != nil {
		abandon(p, rep)
		return finish(), err
	}
	rep.Start = time.Now()
	// When the signal is due: after the warm-up, and the upgrades.
	planned := rep.Start.Add(c.Warmup + time.Duration(c.Upgrades.Count)*c.Upgrades.Interval)
	if c.signalled() {
		r.rec.timeline.begin(rep.Start, planned, planned.Sub(rep.Start)+c.KillAfter+2*settle+time.Second)
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
	for i := range c.Load.Conns {
		wg.Go(func() { d.conn(lctx, i) })
	}

	timer := time.NewTimer(c.Warmup)
	defer timer.Stop()
	if cur == nil {
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

	// The warm-up, and the upgrades.
	r.prog.set(PhaseWarmup)
	if c.upgrading() {
		spawn := func(f func(context.Context)) { wg.Go(func() { f(lctx) }) }
		next, due, err := r.upgrade(ctx, lin, cur, rep, d, spawn)
		if next == nil || err != nil {
			// No process serves any more, or the run was cut short.
			d.upgrading.Store(false)
			if err != nil {
				abandon(p, rep)
				return finish(), err
			}
			d.exited.Store(true)
			r.prog.set(PhaseExited)
			settleLoad()
			return finish(), nil
		}
		cur, planned = next, due
	} else {
		select {
		case <-timer.C:
		case <-cur.Done():
			rep.Exit = cur.Exit()
			r.prog.set(PhaseExited)
			return finish(), exitedEarly(cur)
		case <-ctx.Done():
			abandon(p, rep)
			return finish(), fmt.Errorf("probe: before the signal: %w", ctx.Err())
		}
	}

	d.upgrading.Store(false)
	rep.PID = cur.PID()
	rep.SignalAt = time.Now()
	rep.SignalLag = rep.SignalAt.Sub(planned)
	r.rec.signalled(rep.SignalAt)
	send := cur.Signal
	if c.SignalGroup {
		send = p.(*proc.Server).SignalGroup // resolve allows it only for a started process
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
		case <-cur.Done():
			exited = true
		case <-quiet.C:
			select {
			case <-cur.Done(): // exited meanwhile: nothing to find out
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
			if err := cur.Kill(); err != nil {
				return finish(), fmt.Errorf("probe: after the grace period: %w", err)
			}
			// A child dies at once; a process the probe did not start
			// might not, if the signal did not reach it.
			timer.Reset(settle)
			select {
			case <-cur.Done():
				exited = true
			case <-timer.C:
				return finish(), fmt.Errorf("probe: process %d still running %v after SIGKILL", cur.PID(), settle)
			case <-ctx.Done():
				return finish(), fmt.Errorf("probe: after the grace period: %w", ctx.Err())
			}
		case <-ctx.Done():
			abandon(p, rep)
			return finish(), fmt.Errorf("probe: during the shutdown: %w", ctx.Err())
		}
	}
	rep.Exit = cur.Exit()
	d.exited.Store(true)
	r.prog.set(PhaseExited)

	// Once the process is gone every connection to it fails at once, and
	// the load ends by itself; bound it anyway.
	settleLoad()
	return finish(), nil
}

// start starts the server, or in target mode starts watching the process
// if there is one, and waits until the server is ready. It returns the
// process (nil in target mode without PID), the address to load and the
// Host header.
func (r *run) start(ctx context.Context, rep *report.Report) (process, string, string, error) {
	c := r.cfg
	if c.Target == "" {
		srv := c.Server
		if c.upgrading() {
			// A PID file left by an earlier run names a process long gone,
			// or another one.
			if err := os.Remove(c.Upgrades.PIDFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, "", "", fmt.Errorf("probe: remove the PID file of an earlier run: %w", err)
			}
			srv.Env = append(slices.Clone(srv.Env), "PIDFILE="+c.Upgrades.PIDFile)
		}
		p, err := proc.Start(ctx, srv, c.upgrading())
		if err != nil {
			return nil, "", "", err
		}
		rep.Addr, rep.Command, rep.PID = p.Addr(), p.Args(), p.PID()
		return p, p.Addr(), p.Addr(), nil
	}
	rep.Addr = c.addr
	var p process
	var done <-chan struct{}
	if c.PID != 0 {
		w, err := proc.Watch(c.PID)
		if err != nil {
			return nil, "", "", err
		}
		p, done, rep.PID = w, w.Done(), c.PID
	}
	ready := c.Server.Readiness(c.addr, c.host)
	if err := ready.Wait(ctx, done); err != nil {
		if p != nil {
			p.Close()
		}
		if errors.Is(err, proc.ErrGone) {
			err = fmt.Errorf("%w before the load: process %d", ErrExited, c.PID)
		}
		return nil, "", "", err
	}
	return p, c.addr, c.host, nil
}

// abandon ends a run cut short: the probe's child is killed and reaped; a
// process it did not start is left alone.
func abandon(p process, rep *report.Report) {
	if sp, ok := p.(*proc.Server); ok {
		sp.Close()
		rep.Exit = sp.Exit()
	}
}

// exitedEarly returns the error for a process that exited before the
// signal: for the probe's child, a *DaemonError if it left a process
// serving on its port. The child's output is in the report, not in the
// error.
func exitedEarly(p process) error {
	if sp, ok := p.(*proc.Server); ok {
		return sp.ExitedEarly()
	}
	return fmt.Errorf("%w before the signal: exit %v", ErrExited, p.Exit())
}
