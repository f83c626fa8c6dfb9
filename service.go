package drain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/drain-go/drain/systemd"
)

// readyPoll is how often a group that must say when it is ready (to
// systemd, to the process that started it at an upgrade, in its PID file)
// runs its readiness checks until they pass: they are polled, as
// Kubernetes polls /readyz, since a check has no way to say it passes now.
const readyPoll = 100 * time.Millisecond

// A service is what one Run tells its supervisor, and how it upgrades:
// systemd's notifications, the PID file, the Upgrader's signal and the
// upgrade in progress. Its channels are nil when there is nothing to hear,
// so that Run's select ignores them. Only Run's goroutine calls its
// methods.
type service struct {
	g   *Group
	u   *Upgrader // nil without one
	sd  *systemd.Notifier
	log *slog.Logger

	upSig    chan os.Signal      // the upgrade signal
	requests chan upgradeRequest // Upgrade calls
	serving  chan struct{}       // closed when the shutdown begins: Upgrade calls fail
	parent   *parentLink         // to the process that started this one, until Run returns
	abort    <-chan struct{}     // closed if that process calls the upgrade off

	ready     chan struct{}   // closed when the readiness checks have passed
	committed <-chan struct{} // closed when the previous process lets this one take over
	stopReady chan struct{}   // ends the wait for them
	readyDone chan struct{}   // closed when that wait has ended
	isReady   bool

	upgrading bool
	replies   []chan error       // of the Upgrade calls waiting for the upgrade in progress
	decided   chan error         // whether the new process takes over (nil) or not, as soon as known
	upDone    chan upgradeResult // the upgrade in progress's result, once its goroutine is done
	upStop    chan struct{}      // closed when the shutdown begins: the upgrade is called off
	upKill    chan struct{}      // closed when Run is about to return: a new process still running is killed

	watchdogEvery time.Duration // half systemd's watchdog interval; 0 if off
	watchdogStop  chan struct{}
	watchdogDone  chan struct{}

	handedOff bool          // the sockets were left to another process
	standDone chan error    // the stand-in's result (see Upgrader.Foreground)
	reap      chan struct{} // closed when the stand-in may reap: this process's drain and cleanup are over
}

type upgradeRequest struct{ reply chan error }

type upgradeResult struct {
	pid int
	err error
}

// checkUpgrader adds to errs what is wrong with the group's Upgrader.
func (g *Group) checkUpgrader(errs []error) []error {
	u := g.Upgrader
	if u == nil {
		return errs
	}
	if !upgradesSupported {
		return append(errs, errors.New("Upgrader: upgrades need a Unix system"))
	}
	if u.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("Upgrader: negative ReadyTimeout %v", u.ReadyTimeout))
	}
	sig := u.signal()
	shutdown := g.Signals
	if shutdown == nil {
		shutdown = defaultSignals
	}
	if slices.Contains(shutdown, sig) {
		errs = append(errs, fmt.Errorf("Upgrader: Signal %v is also a shutdown signal", sig))
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.initLocked()
	if u.initErr != nil {
		errs = append(errs, u.initErr)
	}
	if u.Foreground && !standInSupported {
		errs = append(errs, errors.New("Upgrader: Foreground needs Linux (a child subreaper)"))
	}
	return errs
}

func (u *Upgrader) signal() os.Signal {
	if u.Signal != nil {
		return u.Signal
	}
	return sigHUP
}

// newService starts what Run tells its supervisor and how it upgrades.
func newService(g *Group, log *slog.Logger) *service {
	s := &service{g: g, u: g.Upgrader, log: log, serving: make(chan struct{})}
	sd, err := systemd.NewNotifier()
	if err != nil {
		log.Warn("drain: NOTIFY_SOCKET is set but unusable; not notifying systemd", "err", err)
	}
	s.sd = sd
	if s.u != nil {
		s.u.mu.Lock()
		warnings := s.u.warnings
		s.u.warnings = nil
		s.parent = s.u.parent
		s.u.mu.Unlock()
		for _, w := range warnings {
			log.Warn("drain: " + w)
		}
		s.upSig = make(chan os.Signal, 1)
		notify := signal.Notify
		if g.notify != nil {
			notify = g.notify
		}
		notify(s.upSig, s.u.signal())
		s.requests = make(chan upgradeRequest)
		s.u.mu.Lock()
		s.u.requests, s.u.serving = s.requests, s.serving
		s.u.mu.Unlock()
		s.upStop, s.upKill = make(chan struct{}), make(chan struct{})
		if s.parent != nil {
			s.parent.start()
			s.abort = s.parent.abort
		}
	}
	if interval, err := systemd.WatchdogInterval(); err != nil {
		log.Warn("drain: systemd's watchdog settings are malformed; not pinging it", "err", err)
	} else if s.sd != nil {
		s.watchdogEvery = interval / 2
	}
	return s
}

// needsReady reports whether anyone is told when the group is ready.
func (s *service) needsReady() bool {
	return s.sd != nil || s.parent != nil || (s.u != nil && s.u.PIDFile != "")
}

// startReady waits, in a goroutine of its own, for the group's readiness
// checks to pass, once the group serves.
func (s *service) startReady() {
	if !s.needsReady() {
		return
	}
	ready, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	s.ready, s.stopReady, s.readyDone = ready, stop, done
	go func() { // owned: stop waits for done
		defer close(done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-stop:
				return
			}
			if s.g.readyNow(stop) {
				close(ready)
				return
			}
			t.Reset(readyPoll)
		}
	}()
}

// readyNow reports whether the group's readiness checks pass. It gives up
// on them when stop is closed.
func (g *Group) readyNow(stop <-chan struct{}) bool {
	g.mu.Lock()
	h := g.health
	g.mu.Unlock()
	if h == nil {
		return g.When(ShutdownInitiated).IsZero()
	}
	for _, r := range h.run(nil, stop) {
		if r.err != nil {
			return false
		}
	}
	return true
}

// announceReady is called when the group is ready. A process started by
// an upgrade asks the previous one to leave it the sockets, and takes over
// once it has its answer (committed); any other takes over at once.
func (s *service) announceReady() {
	if s.parent != nil {
		s.log.Info("drain: ready; waiting for the previous process to leave this one the sockets", "pid", os.Getpid())
		if err := s.parent.ready(); err != nil {
			s.log.Warn("drain: could not tell the previous process that this one is ready", "err", err)
		}
		s.committed = s.parent.goc
		return
	}
	s.takeOver()
}

// takeOver tells whoever waits that this process serves: systemd, the PID
// file, the process standing in for the service; and stores the sockets
// in systemd's store.
func (s *service) takeOver() {
	s.isReady = true
	if s.u != nil {
		s.u.mu.Lock()
		s.u.tookOver = true
		s.u.mu.Unlock()
	}
	s.log.Info("drain: ready", "pid", os.Getpid())
	msg := []string{"READY=1", "STATUS=serving"}
	if s.parent != nil {
		// The previous process says so too; this is for units whose
		// NotifyAccess=all, should it be gone.
		msg = append(msg, "MAINPID="+strconv.Itoa(os.Getpid()))
	}
	s.notify(msg...)
	if s.watchdogEvery > 0 && s.watchdogStop == nil {
		// From the moment this process is the one systemd watches.
		s.watchdogStop, s.watchdogDone = make(chan struct{}), make(chan struct{})
		go s.watchdog(s.watchdogEvery) // owned: stopWatchdog waits for it
	}
	if s.u == nil {
		return
	}
	if s.u.PIDFile != "" {
		if err := writePIDFile(s.u.PIDFile, os.Getpid()); err != nil {
			s.log.Error("drain: could not write the PID file", "path", s.u.PIDFile, "err", err)
		}
	}
	s.u.mu.Lock()
	standIn := s.u.standIn
	s.u.mu.Unlock()
	if standIn != nil {
		if _, err := standIn.Write([]byte("serving " + strconv.Itoa(os.Getpid()))); err != nil {
			s.log.Warn("drain: could not tell the process standing in for the service that this one serves", "err", err)
		}
	}
	if s.u.FDStore && s.sd != nil {
		files, names, _, err := s.u.files(true)
		if err != nil {
			s.log.Error("drain: could not store the sockets in systemd's store", "err", err)
		}
		for i, f := range files {
			if err := s.sd.NotifyFiles([]*os.File{f}, "FDSTORE=1", "FDNAME="+names[i]); err != nil {
				s.log.Error("drain: could not store a socket in systemd's store", "socket", names[i], "err", err)
				continue
			}
			s.u.markStored(names[i])
		}
		closeAll(files)
	}
}

// notify sends a notification to systemd, if it listens.
func (s *service) notify(state ...string) {
	if err := s.sd.Notify(state...); err != nil {
		s.log.Warn("drain: could not notify systemd", "err", err)
	}
}

// beginUpgrade starts an upgrade, unless one is in progress. reply, if not
// nil, receives its result.
func (s *service) beginUpgrade(reply chan error) {
	if s.upgrading {
		s.log.Warn("drain: upgrade already in progress")
		if reply != nil {
			reply <- fmt.Errorf("%w: an upgrade is already in progress", ErrUpgrade)
		}
		return
	}
	s.u.mu.Lock()
	if s.u.Foreground && s.u.parent == nil && s.u.stand == nil {
		// Started by the supervisor: this process will stand in for the
		// generations after it, which reach it through this.
		st, err := newStandIn()
		if err != nil {
			s.u.mu.Unlock()
			s.log.Error("drain: upgrade failed: cannot stand in for the service", "err", err)
			if reply != nil {
				reply <- fmt.Errorf("%w: %w", ErrUpgrade, err)
			}
			return
		}
		s.u.stand = st
	}
	s.u.mu.Unlock()
	s.upgrading = true
	if reply != nil {
		s.replies = append(s.replies, reply)
	}
	s.log.Info("drain: upgrading: starting the new process")
	s.notify("RELOADING=1", systemd.Monotonic(), "STATUS=upgrading: starting the new process")
	timeout := s.u.ReadyTimeout
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	// A new process told to stop drains what it accepted, within its own
	// bound, presumably the same as this one's.
	stopWait := s.g.bound()
	s.decided, s.upDone = make(chan error, 1), make(chan upgradeResult, 1)
	decided, done := s.decided, s.upDone
	go func() { // owned: stop waits for done
		pid, err := s.u.upgrade(timeout, stopWait, s.upStop, s.upKill, decided)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrUpgrade, err)
		}
		done <- upgradeResult{pid: pid, err: err}
	}()
}

// decide handles the decision of the upgrade in progress: nil if the new
// process takes over; it reports whether it does. Its PID comes with
// upDone, at once then.
func (s *service) decide(err error) (pid int, took bool) {
	s.decided = nil
	if err != nil {
		return 0, false // upDone will say how the new process ended
	}
	res := <-s.upDone
	s.upDone = nil
	s.upgradeEnded(res)
	return res.pid, true
}

// upgradeEnded handles the result of the upgrade in progress, and reports
// whether the new process has taken over.
func (s *service) upgradeEnded(res upgradeResult) bool {
	s.upgrading = false
	s.upDone, s.decided = nil, nil
	for _, reply := range s.replies {
		reply <- res.err
	}
	s.replies = nil
	if res.err != nil {
		s.log.Error("drain: upgrade failed; serving on", "new_pid", res.pid, "err", res.err)
		s.notify("READY=1", "STATUS=serving; the last upgrade failed")
		return false
	}
	s.log.Info("drain: upgraded: the new process is ready; leaving it the sockets", "new_pid", res.pid)
	s.notify("MAINPID="+strconv.Itoa(res.pid), "READY=1", "STATUS=upgraded to process "+strconv.Itoa(res.pid))
	s.u.mu.Lock()
	st := s.u.stand
	s.u.mu.Unlock()
	if st != nil {
		sigs := slices.Concat(s.g.Signals, []os.Signal{s.u.signal()})
		if s.g.Signals == nil {
			sigs = append(sigs, defaultSignals...)
		}
		s.standDone, s.reap = make(chan error, 1), make(chan struct{})
		reap := s.reap
		go func() { s.standDone <- st.run(res.pid, sigs, reap, s.log) }() // owned: Run waits for standDone
	}
	return true
}

// callOff calls the upgrade in progress off, as the shutdown begins. It
// reports whether the new process had taken over nonetheless: it was told
// to before the shutdown began, and serves; this process then hands over.
func (s *service) callOff() (pid int, took bool) {
	if !s.upgrading {
		return 0, false
	}
	close(s.upStop)
	if s.decided == nil {
		return 0, false // decided already: it is being stopped
	}
	return s.decide(<-s.decided)
}

// shutdownBegins is called when the group's shutdown begins. handOff
// tells whether the process leaves its sockets to another one: after an
// upgrade, or in a new process whose upgrade was called off.
func (s *service) shutdownBegins(why string, handOff bool) {
	close(s.serving)
	if s.stopReady != nil {
		close(s.stopReady)
	}
	s.handedOff = handOff
	if handOff {
		s.stopWatchdog() // the other process pings now
	}
	if s.u != nil && handOff {
		s.u.mu.Lock()
		s.u.handedOff = true
		s.u.mu.Unlock()
	}
	switch {
	case !s.isReady && s.parent != nil:
		// The previous process is systemd's main process.
	case handOff:
		// The new process is.
	default:
		s.notify("STOPPING=1", "STATUS=shutting down: "+why,
			"EXTEND_TIMEOUT_USEC="+strconv.FormatInt(s.g.bound().Microseconds(), 10))
	}
}

// handsOff reports whether the group calls HandOff on server srv when the
// shutdown begins: after an upgrade, on every server but HTTP, whose
// listener knows (see leftToOthers). Sockets that systemd holds too
// (socket activation, FDStore) need no call: closing them resets nothing,
// and HTTP and Listener, which would keep new connections out of them,
// know them from their listener too.
func (s *service) handsOff(srv Server) bool {
	if _, isHTTP := srv.(*HTTP); isHTTP || !s.handedOff {
		return false
	}
	// A server that shows its listener in an exported field (draingrpc's
	// does) leaves it only if it came from the Upgrader.
	if ln, ok := fieldOf(srv, reflect.TypeFor[net.Listener]()).(net.Listener); ok {
		return s.u.owns(ln)
	}
	return true
}

// bound is how long Run may take once the shutdown has begun, at most: see
// Group.Run.
func (g *Group) bound() time.Duration {
	g.mu.Lock()
	n := len(g.cleanups)
	g.mu.Unlock()
	reserve := max(cmp.Or(g.CleanupReserve, DefaultCleanupReserve), closeWait)
	return cmp.Or(g.Timeout, DefaultTimeout) + reserve + time.Duration(n+1)*cleanupLinger
}

// stopWatchdog stops the watchdog's pings, if they run.
func (s *service) stopWatchdog() {
	if s.watchdogStop != nil {
		close(s.watchdogStop)
		<-s.watchdogDone
		s.watchdogStop = nil
	}
}

// watchdog pings systemd's watchdog every interval until stop.
func (s *service) watchdog(interval time.Duration) {
	defer close(s.watchdogDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.notify("WATCHDOG=1")
		case <-s.watchdogStop:
			return
		}
	}
}

// stop ends what the service started, once the shutdown is over: an
// upgrade in progress (its new process killed if still running), the wait
// for readiness, the watchdog, the link to the previous process; and
// removes the PID file unless another process serves now.
func (s *service) stop() {
	if s.upKill != nil {
		close(s.upKill)
	}
	if s.upgrading {
		res := <-s.upDone
		s.upgrading = false
		s.log.Warn("drain: upgrade called off by the shutdown", "new_pid", res.pid, "err", res.err)
		for _, reply := range s.replies {
			reply <- res.err
		}
	}
	if s.readyDone != nil {
		<-s.readyDone
	}
	s.stopWatchdog()
	if s.parent != nil {
		s.parent.close()
	}
	if s.u == nil {
		return
	}
	s.u.mu.Lock()
	if s.u.stand != nil && s.standDone == nil {
		s.u.stand.close() // no upgrade took: nothing to stand in for
		s.u.stand = nil
	}
	s.u.mu.Unlock()
	stop := signal.Stop
	if s.g.stopNotify != nil {
		stop = s.g.stopNotify
	}
	stop(s.upSig)
	s.u.mu.Lock()
	s.u.requests, s.u.serving = nil, nil
	s.u.mu.Unlock()
	s.u.release()
	if s.u.PIDFile != "" && !s.handedOff {
		if err := removePIDFile(s.u.PIDFile, os.Getpid()); err != nil {
			s.log.Warn("drain: could not remove the PID file", "path", s.u.PIDFile, "err", err)
		}
	}
}

// Upgrade starts an upgrade, as Signal does, and waits for its end. It
// returns nil once the new process is ready (this one then shuts down and
// its Run returns), or an error wrapping [ErrUpgrade] that says why the
// upgrade failed (this one serves on), or ctx's error: the upgrade then
// goes on, Upgrade only stops waiting for it. It fails if the group is not
// serving.
func (u *Upgrader) Upgrade(ctx context.Context) error {
	u.mu.Lock()
	requests, serving := u.requests, u.serving
	u.mu.Unlock()
	if requests == nil {
		return fmt.Errorf("%w: the group is not serving", ErrUpgrade)
	}
	req := upgradeRequest{reply: make(chan error, 1)}
	select {
	case requests <- req:
	case <-serving:
		return fmt.Errorf("%w: the group is shutting down", ErrUpgrade)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
