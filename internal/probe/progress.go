package probe

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// A Phase is where a run is.
type Phase string

// The phases of a run, in order. A run without a signal (target mode
// without a PID) goes from PhaseStarting to PhaseRunning.
const (
	// PhaseStarting: starting the server and waiting until it is ready,
	// then opening the idle connections, silent sockets and streams.
	PhaseStarting Phase = "starting"
	// PhaseWarmup: the load runs; the signal is yet to come.
	PhaseWarmup Phase = "warm-up"
	// PhaseUpgrading: in an upgrade run, the first upgrade signal was
	// sent; the shutdown signal is yet to come.
	PhaseUpgrading Phase = "upgrading"
	// PhaseRunning: the load runs for Config.Duration; the probe sends
	// no signal.
	PhaseRunning Phase = "running"
	// PhaseSignalled: the signal was sent; the load goes on until the
	// process exits.
	PhaseSignalled Phase = "signalled"
	// PhaseExited: the process has exited; the load is ending.
	PhaseExited Phase = "exited"
)

// progressInterval is about how often [Config.Progress] is called.
const progressInterval = 100 * time.Millisecond

// Progress is a snapshot of a run in progress, for a live progress line
// (see [Config.Progress]).
type Progress struct {
	Phase Phase
	// Elapsed is the time since Run was called.
	Elapsed time.Duration
	// Signalled reports that the signal was sent, SinceSignal how long
	// ago.
	Signalled   bool
	SinceSignal time.Duration
	// Answered, Refused and Lost count the requests that have ended so
	// far, every kind together, as the [report.Timeline] does (aborted requests
	// and streams are not counted); Status counts the answered ones by
	// status class, as [report.Counts.Status].
	Answered, Refused, Lost int
	Status                  [6]int
	// Idle and Silent are the idle connections and silent sockets open
	// now (not yet closed by the server); WebSockets and SSE the streams
	// open now.
	Idle, Silent, WebSockets, SSE int
}

// A progress calls the user's function every progressInterval from a
// goroutine of its own, and once more when it ends.
type progress struct {
	fn    func(Progress)
	began time.Time
	rec   *recorder
	phase atomic.Pointer[Phase]
	d     atomic.Pointer[driver] // nil until the load is set up

	stop, done chan struct{}
	once       sync.Once
	err        error // a panic in fn; read after done is closed
}

// startProgress starts calling fn, if it is not nil. Its end method must
// be called.
func startProgress(fn func(Progress), began time.Time, rec *recorder) *progress {
	p := &progress{fn: fn, began: began, rec: rec, stop: make(chan struct{}), done: make(chan struct{})}
	p.set(PhaseStarting)
	if fn == nil {
		close(p.done)
		return p
	}
	go p.run() // owned: end waits for done
	return p
}

func (p *progress) set(ph Phase) { p.phase.Store(&ph) }

func (p *progress) run() {
	defer close(p.done)
	defer func() {
		if v := recover(); v != nil {
			p.err = fmt.Errorf("probe: Config.Progress panicked: %v\n%s", v, debug.Stack())
		}
	}()
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.fn(p.snapshot())
			return
		case <-t.C:
			p.fn(p.snapshot())
		}
	}
}

func (p *progress) snapshot() Progress {
	now := time.Now()
	c := p.rec.timeline.total.counts()
	s := Progress{
		Phase: *p.phase.Load(), Elapsed: now.Sub(p.began),
		Answered: c.Answered(), Refused: c.Refused, Lost: c.Lost, Status: c.Status,
	}
	if at := p.rec.signal.Load(); at != nil {
		s.Signalled, s.SinceSignal = true, now.Sub(*at)
	}
	if d := p.d.Load(); d != nil {
		s.Idle, s.Silent = d.idle.Open(), d.silent.Open()
		s.WebSockets, s.SSE = int(d.streams.open[0].Load()), int(d.streams.open[1].Load())
	}
	return s
}

// end calls fn a last time and stops. It returns the error of a panic in
// fn, if one happened. It may be called more than once.
func (p *progress) end() error {
	if p.fn != nil {
		p.once.Do(func() { close(p.stop) })
	}
	<-p.done
	return p.err
}
