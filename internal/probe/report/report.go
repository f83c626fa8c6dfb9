package report

import (
	"os"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// A Report is what a run observed. Times are on the probe's clock; use the
// methods for durations between them.
type Report struct {
	// Addr is the address the probe loaded: where the server it started
	// listened, or the target's.
	Addr string
	// Target is probe.Config.Target: empty when the probe started the server.
	Target string
	// Command is the server's program and arguments, "{port}" replaced;
	// nil in target mode.
	Command []string
	// PID is the process signalled: the server the probe started, or
	// probe.Config.PID; 0 if none.
	PID int
	// Load is the load that was put on the server, defaults filled in.
	Load Load
	// Warmup is how long the load ran before the signal, and Signal the
	// signal sent; zero and nil if the run sends none. SignalGroup: it was
	// sent to the server's process group.
	Warmup      time.Duration
	Signal      os.Signal
	SignalGroup bool

	// Start is when the busy clients and the slow requests started, once
	// the idle connections, silent sockets and streams were open.
	Start time.Time
	// SignalAt is when the signal was sent; zero if it was not.
	SignalAt time.Time
	// SignalLag is how much later than planned the probe sent the signal:
	// more than a millisecond or so means the probe did not keep up.
	SignalLag time.Duration
	// LastResponse is when the last complete response was read (or a
	// stream ended cleanly); zero if none was.
	LastResponse time.Time
	// Exit is how the process ended, and when; zero if it did not (or
	// there is none).
	Exit proc.Exit
	// End is when the load stopped.
	End time.Time

	// Busy, Conn, Slow, Idle and Silent count the outcomes of each kind
	// of request. A silent socket counts only if its connect failed.
	Busy, Conn, Slow, Idle, Silent Counts
	// WebSocket, SSE and Watch count the outcomes of the streams, which
	// are not requests: they are not in [Report.Total] nor in the
	// Timeline.
	WebSocket, SSE, Watch Counts
	// lostBy counts the lost requests (not streams) by reason.
	lostBy map[Reason]int

	// IdleOpen and SilentOpen are the idle connections and silent sockets
	// that were open when the load started.
	IdleOpen, SilentOpen int
	// IdleClosed and SilentClosed are when the probe saw the server close
	// them (by itself, or by exiting), in order; those never seen closed
	// were held until the end of the run.
	IdleClosed, SilentClosed []time.Time
	// IdleClosedBeforeExit and SilentClosedBeforeExit count those the
	// server closed before the process exited: more than 2 ms (exitMargin)
	// before it, as the kernel closes the others when it exits. Without
	// an exit, they count all those closed during the run.
	IdleClosedBeforeExit, SilentClosedBeforeExit int

	// WebSocketsOpen, SSEOpen and WatchesOpen are the streams that were
	// open when the load started.
	WebSocketsOpen, SSEOpen, WatchesOpen int
	// CloseCodes counts the codes of the close frames that ended
	// WebSocket streams.
	CloseCodes map[int]int

	// BusyRate is the number of busy requests answered per second before
	// the signal (during the whole load, without a signal): whether the
	// probe kept the server busy.
	BusyRate float64
	// connRefusedBefore counts the requests sent before the signal whose
	// connection was refused: a server, or a machine, not taking the
	// load. (An HTTP/2 stream refused by a GOAWAY, as servers rotate
	// connections, is not one.)
	connRefusedBefore int
	// busyOKBefore is the number of busy requests answered 2xx before the
	// signal (during the whole run, without one).
	busyOKBefore int
	// LagP99 and LagMax are the 99th percentile and the maximum of the
	// probe's scheduling lag during the load, measured every 10 ms: how
	// late its goroutines ran. See [Report.KeptUp].
	LagP99, LagMax time.Duration

	// holdQuiet: the probe kept the quiet connections open to the end
	// (probe's Config.HoldQuiet).
	holdQuiet bool
	// QuietClosedAt is when the probe closed the idle connections and
	// silent sockets the server still held open probe.Config.MaxExitLag
	// after it had nothing left to answer; zero if it did not have to.
	QuietClosedAt time.Time
	// SentAfterSignal counts the requests sent after the signal; the
	// others were sent before it (though they may have ended after it).
	SentAfterSignal Counts
	// Timeline counts the requests by when they ended.
	Timeline Timeline

	// Records lists the requests of note (see [Record]), in the order
	// they ended; Dropped counts those left out past probe.Config.MaxRecords.
	Records []Record
	Dropped int

	// Upgrades lists the upgrades of an upgrade run (probe.Config.Upgrades),
	// those whose signal was sent, in order; UpgradeSignal is the signal
	// each was asked for with, UpgradeInterval the time between them,
	// and PIDFile where the server kept its PID. Empty, nil and zero in
	// other runs.
	// UpgradeTimeout bounds each wait for a new PID and an old exit.
	Upgrades        []Upgrade
	UpgradeSignal   os.Signal
	UpgradeInterval time.Duration
	UpgradeTimeout  time.Duration
	PIDFile         string

	// Verdict judges the shutdown (see [Report.Judge]).
	Verdict Verdict

	// Output is the end of what the server wrote on stdout and stderr;
	// empty in target mode.
	Output string
}

// exitMargin is how long before the process's exit a held connection
// must have been closed to count as closed by the server rather than by
// the exit: the kernel closes every socket of a process as it exits, and
// the probe sees those closes and the exit within a moment of each other,
// in either order (within ±0.5 ms with 16 busy clients on a 2-core
// machine). A server that closes its connections less than exitMargin
// before it exits is counted as holding them until the exit.
const exitMargin = 2 * time.Millisecond

// Complete completes a report whose other fields the run has set. It
// takes what the verdict judges by but the report does not show: the lost
// requests (not streams) by reason, the busy requests answered 2xx before
// the signal (during the whole run, without one), and the requests sent
// before the signal whose connection was refused, and whether the probe
// kept the quiet connections open to the end (drainprobe --hold-quiet). It
// counts the held connections the server closed before it exited, and
// what each upgrade's window saw.
func (r *Report) Complete(lostBy map[Reason]int, busyOKBefore, connRefusedBefore int, holdQuiet bool) {
	r.lostBy, r.busyOKBefore, r.connRefusedBefore, r.holdQuiet = lostBy, busyOKBefore, connRefusedBefore, holdQuiet
	r.IdleClosedBeforeExit = closedBefore(r.IdleClosed, r.Exit.At)
	r.SilentClosedBeforeExit = closedBefore(r.SilentClosed, r.Exit.At)
	r.countUpgrades()
}

// closedBefore counts the times more than exitMargin before exit, or all
// of them if exit is zero.
func closedBefore(ts []time.Time, exit time.Time) int {
	if exit.IsZero() {
		return len(ts)
	}
	return countBefore(ts, exit.Add(-exitMargin))
}

// countBefore counts the times before t.
func countBefore(ts []time.Time, t time.Time) int {
	n := 0
	for _, c := range ts {
		if c.Before(t) {
			n++
		}
	}
	return n
}

// Total returns the counts of every kind of request together; streams
// are not requests.
func (r *Report) Total() Counts {
	var c Counts
	for _, k := range []Counts{r.Busy, r.Conn, r.Slow, r.Idle, r.Silent} {
		c.Add(k)
	}
	return c
}

// SlowCompleted returns the number of slow requests answered with a 2xx
// status.
func (r *Report) SlowCompleted() int { return r.Slow.Status[2] }

// SignalToExit returns the time from the signal to the process's exit, or
// 0 if the signal was not sent.
func (r *Report) SignalToExit() time.Duration {
	if r.SignalAt.IsZero() || r.Exit.At.IsZero() {
		return 0
	}
	return r.Exit.At.Sub(r.SignalAt)
}

// LastResponseToExit returns the time from the last complete response to
// the process's exit: how long the server lived on once it had nothing
// left to answer. It returns false if no response was read or the
// process did not exit. A server that exits right after writing its last
// response may be seen to exit a few microseconds before the client has
// read it: that counts as 0.
func (r *Report) LastResponseToExit() (time.Duration, bool) {
	if r.LastResponse.IsZero() || r.Exit.At.IsZero() {
		return 0, false
	}
	return max(0, r.Exit.At.Sub(r.LastResponse)), true
}

// KeptUp reports whether the probe kept up with its own schedule, so that
// its timings can be trusted: its scheduling lag stayed under
// 20 ms (keepUpLagP99) at the 99th percentile and it sent the signal less than
// 10 ms (keepUpSignalLag) late. On a machine whose CPUs the server and the
// probe share, a probe that does not keep up measures itself as much as
// the server.
func (r *Report) KeptUp() bool {
	return r.LagP99 <= keepUpLagP99 && r.SignalLag <= keepUpSignalLag
}

// Lost returns the records of the lost requests and streams.
func (r *Report) Lost() []Record {
	var lost []Record
	for _, rec := range r.Records {
		if rec.Outcome == Lost {
			lost = append(lost, rec)
		}
	}
	return lost
}

// Thresholds of [Report.KeptUp].
const (
	// keepUpLagP99 is the most the probe's scheduling lag may reach at
	// the 99th percentile for its timings to be trusted: a request's
	// times are taken by a goroutine that may have waited that long to
	// run.
	keepUpLagP99 = 20 * time.Millisecond
	// keepUpSignalLag is the most the signal may be late.
	keepUpSignalLag = 10 * time.Millisecond
)
