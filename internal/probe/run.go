package probe

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Defaults for the fields of [Config].
const (
	DefaultWarmup    = time.Second
	DefaultKillAfter = 30 * time.Second
)

// settle is how long the load may go on once the process has exited.
// Every connection to a dead process fails at once, so the load normally
// ends within microseconds; settle only bounds it if something else
// answers on the port.
const settle = 2 * time.Second

// Config describes one run of the probe. The zero value of each field but
// Server means its default.
type Config struct {
	// Server is the server to start. Required.
	Server Command

	// Load is the load to put on it.
	Load Load

	// Warmup is how long the busy clients and the slow requests run
	// before the signal. Idle connections and silent sockets are opened
	// before the warm-up begins, so they have been open at least this long
	// at the signal. Defaults to [DefaultWarmup].
	Warmup time.Duration

	// Signal is the signal sent after the warm-up. Defaults to SIGTERM.
	Signal os.Signal

	// KillAfter is how long the process may take to exit after the signal
	// before the probe sends it SIGKILL. Defaults to [DefaultKillAfter].
	KillAfter time.Duration

	// MaxRecords bounds the records of note kept in the report; beyond
	// it they are only counted. Defaults to [DefaultMaxRecords].
	MaxRecords int
}

// Run starts the server, loads it, signals it, waits for it to exit and
// reports what became of every request. See the package documentation for
// the sequence.
//
// Run returns an error if the server could not be started, exited before
// the signal, or if ctx ended; in the last two cases it returns the report
// of what happened so far too. The process is killed and reaped, and every
// connection closed, before Run returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	load := cfg.Load.withDefaults()
	if err := load.validate(); err != nil {
		return nil, fmt.Errorf("probe: invalid load: %w", err)
	}
	warmup := cfg.Warmup
	if warmup <= 0 {
		warmup = DefaultWarmup
	}
	sig := cfg.Signal
	if sig == nil {
		sig = syscall.SIGTERM
	}
	killAfter := cfg.KillAfter
	if killAfter <= 0 {
		killAfter = DefaultKillAfter
	}

	p, err := Start(ctx, cfg.Server)
	if err != nil {
		return nil, err
	}
	defer p.Close()

	rec := newRecorder(cfg.MaxRecords)
	d := &driver{addr: p.Addr(), load: load, rec: rec}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup // the busy clients and the slow requests
	defer func() {
		// On every path: stop the load, wait for it, close what it holds.
		stopLoad()
		wg.Wait()
		d.idle.closeAll()
		d.silent.closeAll()
	}()

	rep := &Report{Signal: sig, Load: load, Warmup: warmup, Addr: p.Addr()}
	finish := func() *Report {
		stopLoad()
		wg.Wait()
		rep.fill(rec, d)
		rep.Output = p.Output()
		return rep
	}

	d.openIdle(lctx)
	d.openSilent(lctx)
	rep.Start = time.Now()
	for i := range load.Slow {
		wg.Go(func() { d.slow(lctx, i) })
	}
	for i := range load.Busy {
		wg.Go(func() { d.busy(lctx, i) })
	}

	// The warm-up.
	planned := rep.Start.Add(warmup)
	timer := time.NewTimer(warmup)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-p.Done():
		rep.Exit = p.Exit()
		return finish(), fmt.Errorf("%w before the signal: exit %v%s", ErrExited, rep.Exit, p.outputSuffix())
	case <-ctx.Done():
		p.Close()
		rep.Exit = p.Exit()
		return finish(), fmt.Errorf("probe: before the signal: %w", ctx.Err())
	}

	rep.SignalAt = time.Now()
	rep.SignalLag = rep.SignalAt.Sub(planned)
	rec.signalled(rep.SignalAt)
	if err := p.Signal(sig); err != nil {
		p.Close()
		rep.Exit = p.Exit()
		return finish(), err
	}

	// The shutdown, under load.
	timer.Reset(killAfter)
	select {
	case <-p.Done():
	case <-timer.C:
		p.Kill()
		<-p.Done()
	case <-ctx.Done():
		p.Close()
		rep.Exit = p.Exit()
		return finish(), fmt.Errorf("probe: during the shutdown: %w", ctx.Err())
	}
	rep.Exit = p.Exit()

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
