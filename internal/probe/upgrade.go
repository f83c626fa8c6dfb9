package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
	"github.com/drain-go/drain/internal/probe/report"
)

// Defaults for the fields of [Upgrades].
const (
	DefaultUpgradeInterval = 2 * time.Second
	DefaultUpgradeTimeout  = 30 * time.Second
)

// Upgrades describes the zero-downtime upgrades an upgrade run puts the
// server through, under load, before its shutdown: the server replaces
// itself by a new process on a signal (as nginx, HAProxy, tableflip and
// drain's Upgrader do), and no request may be refused or lost meanwhile.
//
// Warmup after the load starts, the probe sends Signal to the process
// that serves, and waits (up to Timeout) for PIDFile to name another
// process: the new one, which then serves. It waits, in the background
// and up to Timeout too, for the old process to exit, and records how it
// ended. Interval after each upgrade signal comes the next; Interval after
// the last one, the shutdown signal ([Config.Signal]), and the run goes on
// as any other: the last process's shutdown is probed as a process's
// shutdown always is. A batch of [Load.Slow] slow requests is in flight at
// each signal: the first sent when the load starts, the others Interval/2
// before theirs (SlowPath should take longer than Warmup and Interval/2).
//
// The new processes are not the probe's children: each is started by the
// old one. Once the old one has exited, its child is reparented to the
// probe if the probe is a child subreaper ([BecomeSubreaper]), which then
// reaps it and learns how it ended; [Run] refuses an upgrade run of a
// server it starts unless the probe is one. In target mode the exit codes
// are unknown, as for [Config.PID].
type Upgrades struct {
	// Count is the number of upgrades. 0 (the default) makes the run a
	// plain shutdown probe.
	Count int

	// Signal asks the process that serves to upgrade itself. Defaults to
	// SIGHUP. It must differ from [Config.Signal].
	Signal os.Signal

	// Interval is the time between two upgrade signals, and from the last
	// one to the shutdown signal. Defaults to [DefaultUpgradeInterval].
	Interval time.Duration

	// PIDFile is the file in which the server keeps the PID of the
	// process that serves, replacing it at each upgrade. Required: it is
	// how the probe finds the new process, and learns that it took over,
	// as supervisors do (nginx's pid directive, systemd's PIDFile=).
	// Following the old process's children instead cannot tell the new
	// server from a helper or a worker it starts, nor say when it serves.
	// A server the probe starts gets PIDFILE=PIDFile in its environment,
	// and the file is removed before it starts.
	PIDFile string

	// Timeout bounds each wait: for the PID file to name the first
	// process, and after each signal for it to name a new one, and for
	// the old one to exit. Defaults to [DefaultUpgradeTimeout].
	Timeout time.Duration
}

func (u Upgrades) withDefaults() Upgrades {
	if u.Signal == nil {
		u.Signal = syscall.SIGHUP
	}
	if u.Interval <= 0 {
		u.Interval = DefaultUpgradeInterval
	}
	if u.Timeout <= 0 {
		u.Timeout = DefaultUpgradeTimeout
	}
	return u
}

// pidPoll is how often the probe reads the PID file while it waits for
// it to name a new process: a file's content changing has no event that
// every filesystem delivers, and the wait is bounded.
const pidPoll = 5 * time.Millisecond

// readPIDFile returns the PID the file names; 0 if it names none (yet: it
// is missing, empty or being written).
func readPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// errNoPID reports that the PID file named no (new) process in time.
var errNoPID = errors.New("probe: no PID in the PID file")

// waitPID waits until the PID file names a process other than old, and
// returns it. It gives up with errNoPID after timeout, or a second after
// gone is closed (the old process exited: a new one would have written
// the file by then). It returns ctx's error if ctx ends first.
func waitPID(ctx context.Context, path string, old int, timeout time.Duration, gone <-chan struct{}) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pidPoll)
	defer tick.Stop()
	for {
		if pid := readPIDFile(path); pid != 0 && pid != old {
			return pid, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline.C:
			return 0, errNoPID
		case <-gone:
			gone = nil
			deadline.Reset(min(time.Second, timeout))
		case <-tick.C:
		}
	}
}

// A lineage is the processes of an upgrade run: the successors the probe
// watches, and the goroutines that wait for the old processes' exits.
type lineage struct {
	timeout time.Duration
	stop    chan struct{} // closed by close
	wg      sync.WaitGroup

	mu    sync.Mutex
	procs []*proc.Successor
	exits map[int]Exit // by upgrade (0-based): how its old process ended
}

func newLineage(timeout time.Duration) *lineage {
	return &lineage{timeout: timeout, stop: make(chan struct{}), exits: map[int]Exit{}}
}

// follow returns the process pid: first if that is its PID, else a new
// successor.
func (l *lineage) follow(pid int, first process) (process, error) {
	if first != nil && first.PID() == pid {
		return first, nil
	}
	s, err := proc.Follow(pid, l.timeout)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.procs = append(l.procs, s)
	l.mu.Unlock()
	return s, nil
}

// awaitOld waits, in the background, up to timeout for the old process
// of upgrade i to exit, and records how it ended.
func (l *lineage) awaitOld(i int, old process) {
	l.wg.Go(func() {
		t := time.NewTimer(l.timeout)
		defer t.Stop()
		select {
		case <-old.Done():
		case <-t.C:
			return
		case <-l.stop:
			return
		}
		e := old.Exit()
		l.mu.Lock()
		l.exits[i] = e
		l.mu.Unlock()
	})
}

// wait waits for the old processes' exits (each bounded), and returns how
// each ended, by upgrade.
func (l *lineage) wait() map[int]Exit {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.exits
}

// close stops the waits and the watching. It may be called more than
// once.
func (l *lineage) close() {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	procs := l.procs
	l.mu.Unlock()
	l.wg.Wait()
	for _, s := range procs {
		s.Close()
	}
}

// firstServing waits until the PID file names the process that serves,
// up to the upgrade timeout, and returns it: started, the probe's child,
// if the file names it; else one it watches. gone is closed if started
// exits meanwhile.
func (r *run) firstServing(ctx context.Context, l *lineage, started process) (process, error) {
	u := r.cfg.Upgrades
	var gone <-chan struct{}
	if started != nil {
		gone = started.Done()
	}
	pid, err := waitPID(ctx, u.PIDFile, 0, u.Timeout, gone)
	switch {
	case errors.Is(err, errNoPID):
		return nil, fmt.Errorf("%w: %s named no process within %v of the server's start: does the server write the PID of the process that serves there?", errNoPID, u.PIDFile, u.Timeout)
	case err != nil:
		return nil, fmt.Errorf("probe: waiting for the PID file: %w", err)
	}
	if started != nil && r.cfg.Target != "" && pid != started.PID() {
		return nil, fmt.Errorf("probe: the PID file %s names process %d, not %d (Config.PID): give the PID file alone", u.PIDFile, pid, started.PID())
	}
	p, err := l.follow(pid, started)
	if err != nil {
		return nil, fmt.Errorf("probe: the PID file %s names process %d: %w", u.PIDFile, pid, err)
	}
	return p, nil
}

// upgrade runs the upgrades of an upgrade run, from the first upgrade
// signal until the shutdown signal is due, and returns the process that
// serves then, and when the signal was due (later than planned if an
// upgrade took longer than the interval); nil if no process serves any
// more (an upgrade took the service down, or the new process exited while
// serving), which ends the run, the upgrades in the report saying why.
// spawn starts a goroutine of the load with the load's context.
func (r *run) upgrade(ctx context.Context, l *lineage, cur process, rep *report.Report, d *driver, spawn func(func(context.Context))) (process, time.Time, error) {
	c, u := r.cfg, r.cfg.Upgrades
	rep.Upgrades = make([]report.Upgrade, 0, u.Count)
	slowBatch := func(b int) {
		if c.Load.Slow == 0 || c.Load.GRPC {
			return
		}
		d.slowPending.Add(int64(c.Load.Slow))
		for j := range c.Load.Slow {
			spawn(func(ctx context.Context) { d.slow(ctx, b*c.Load.Slow+j) })
		}
	}
	// wait waits until t; it returns false if the process that serves
	// exited first (recorded on the upgrade that started it).
	wait := func(t time.Time) (bool, error) {
		timer := time.NewTimer(time.Until(t))
		defer timer.Stop()
		select {
		case <-timer.C:
			return true, nil
		case <-cur.Done():
			n := len(rep.Upgrades)
			switch {
			case n == 0: // before any upgrade: as in any run
				rep.Exit = cur.Exit()
				return false, exitedEarly(cur)
			case rep.Upgrades[n-1].NewPID == cur.PID():
				rep.Upgrades[n-1].NewExit = cur.Exit()
			default: // the PID did not change, and the old one died later
				rep.Upgrades[n-1].OldExit = cur.Exit()
			}
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("probe: during the upgrades: %w", ctx.Err())
		}
	}
	due := rep.Start.Add(c.Warmup)
	for i := range u.Count {
		if i > 0 {
			if ok, err := wait(due.Add(-u.Interval / 2)); !ok {
				return nil, time.Time{}, err
			}
			slowBatch(i)
		}
		if ok, err := wait(due); !ok {
			return nil, time.Time{}, err
		}
		up := report.Upgrade{OldPID: cur.PID(), SignalAt: time.Now()}
		up.SignalLag = up.SignalAt.Sub(due)
		r.rec.upgraded(up.SignalAt)
		r.prog.set(PhaseUpgrading)
		if err := cur.Signal(u.Signal); err != nil {
			up.Err = fmt.Sprintf("%s to process %d: %v", proc.SignalName(u.Signal), cur.PID(), strings.TrimPrefix(err.Error(), "probe: "))
			rep.Upgrades = append(rep.Upgrades, up)
			return nil, time.Time{}, nil
		}
		pid, err := waitPID(ctx, u.PIDFile, up.OldPID, u.Timeout, cur.Done())
		switch {
		case errors.Is(err, errNoPID):
			rep.Upgrades = append(rep.Upgrades, up)
			select {
			case <-cur.Done(): // gone, and nobody took over
				rep.Upgrades[i].OldExit = cur.Exit()
				return nil, time.Time{}, nil
			default: // it serves on
			}
		case err != nil:
			rep.Upgrades = append(rep.Upgrades, up)
			return nil, time.Time{}, fmt.Errorf("probe: during upgrade %d: %w", i+1, err)
		default:
			up.NewPID, up.NewAt = pid, time.Now()
			next, err := l.follow(pid, nil)
			if err != nil {
				up.Err = fmt.Sprintf("the PID file names process %d: %v", pid, strings.TrimPrefix(err.Error(), "probe: "))
				rep.Upgrades = append(rep.Upgrades, up)
				return nil, time.Time{}, nil
			}
			rep.Upgrades = append(rep.Upgrades, up)
			l.awaitOld(i, cur)
			cur = next
		}
		// An upgrade that took longer than the interval delays the next
		// signal, so that its slow requests go out Interval/2 before it.
		due = due.Add(u.Interval)
		if earliest := time.Now().Add(u.Interval / 2); due.Before(earliest) {
			due = earliest
		}
	}
	if ok, err := wait(due.Add(-u.Interval / 2)); !ok {
		return nil, time.Time{}, err
	}
	slowBatch(u.Count)
	if ok, err := wait(due); !ok {
		return nil, time.Time{}, err
	}
	return cur, due, nil
}
