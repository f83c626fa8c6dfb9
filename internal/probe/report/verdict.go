package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// DefaultMaxExitLag is the default of probe.Config.MaxExitLag.
const DefaultMaxExitLag = time.Second

// The codes of the [Finding]s of a [Verdict].
const (
	// Reasons to fail.
	CodeLost           = "lost"              // requests lost on established connections
	CodeSlowIncomplete = "slow-incomplete"   // slow requests not answered 2xx
	CodeExitCode       = "exit-code"         // non-zero exit, or ended by a signal
	CodeKilled         = "killed"            // SIGKILLed at the end of the grace period
	CodeExitLag        = "exit-lag"          // exit long after the last response
	CodeHeldSockets    = "held-sockets"      // the server waited for quiet connections
	CodeStreamsCut     = "streams-cut"       // streams cut without a clean end
	CodeServedAfter    = "served-after-exit" // answers kept coming after the exit: a wrapper?
	CodeRefused        = "refused"           // connections refused during an upgrade
	CodeUpgradePID     = "upgrade-pid"       // no new process took over at an upgrade
	CodeUpgradeExit    = "upgrade-exit"      // an old process did not exit 0, or the new one died
	// Warnings.
	CodeProbeLag   = "probe-lag"   // the probe did not keep up
	CodeNoSignal   = "no-signal"   // target mode without a PID: no signal sent
	CodeUntested   = "untested"    // the load did not test what it was meant to
	CodeErrorsSent = "errors-sent" // 5xx answers after the signal
	CodeOverloaded = "overloaded"  // the server or the probe could not take the load: no verdict
)

// quietExitWindow is how soon after the probe closed the quiet connections
// a server must exit for the probe to conclude that it waited for them
// ([CodeHeldSockets]): net/http's Server.Shutdown looks again at most every
// 500 ms (and 10% jitter); most servers exit at once.
const quietExitWindow = 600 * time.Millisecond

// overloadSignalLag is how late the signal may be before the run counts as
// overloaded ([CodeOverloaded]) rather than merely late ([CodeProbeLag]).
const overloadSignalLag = time.Second

// A Finding is one reason for a verdict, or a warning.
type Finding struct {
	// Code is one of the Code constants, for machines.
	Code string `json:"code"`
	// Text says it in a sentence, with the figures, for people.
	Text string `json:"text"`
	// Advice says what it means for the server's users, and what usually
	// fixes it.
	Advice string `json:"advice"`
}

// advice is the advice of each code, but the one [Report.lostAdvice]
// writes from what the lost requests were.
var advice = map[string]string{
	CodeSlowIncomplete: "Requests in flight at the signal were not answered: users see errors on long requests (uploads, reports, checkouts). " +
		"Wait for the requests in flight before exiting, within a bound longer than the slowest one.",
	CodeExitCode: "Supervisors (systemd, Kubernetes, CI) count a non-zero exit, or death by a signal, as a crash: restarts, alerts, failed deploys. " +
		"Exit 0 once the shutdown is complete; non-zero only when it had to be forced.",
	CodeKilled: "It outlived the grace period and was killed: everything still in flight was cut. " +
		"Bound the shutdown below the supervisor's grace period (Kubernetes: terminationGracePeriodSeconds, 30 s by default; docker stop: 10 s).",
	CodeExitLag: "It lived on with nothing left to answer, which slows every rollout and restart. " +
		"Usually a fixed sleep, a poll interval, or something it waits for; exit as soon as the last connection has closed.",
	CodeHeldSockets: "It waited for connections that send nothing (browsers' preconnected sockets, idle keep-alive connections): every shutdown lasts until its own timeout. " +
		"Close connections that are idle, or have sent nothing, as soon as the drain begins.",
	CodeStreamsCut: "Long-lived streams were cut: clients see an error instead of a request to reconnect. " +
		"End them cleanly at the drain: a WebSocket close frame (1001, going away), the end of the event stream, a gRPC status (UNAVAILABLE, which clients retry elsewhere).",
	CodeServedAfter: "The process the probe started exited, but another one kept serving the port: the signal reached a wrapper (sh -c, npm, a script) that did not pass it on. " +
		"Use exec in scripts so that the server is the process signalled, or --signal-group.",
	CodeRefused: "Connections refused during an upgrade are clients turned away while a process serves: the listening socket was closed and opened again, or the new process listened on a socket of its own while the old one closed its. " +
		"Pass the listening socket to the new process (inherited, as a file descriptor), and let the old one stop accepting without closing it while the new one takes it.",
	CodeUpgradePID: "The upgrade did not happen: no new process took over (the PID file kept naming the old one), so the release did not go out, or the service went down. " +
		"Check the new process's output: it may fail at start, or never become ready; the old one must serve on until a new one is ready.",
	CodeUpgradeExit: "Supervisors count a non-zero exit, or death by a signal, as a crash; an old process that never exits holds memory and old code. " +
		"Once the new process serves, the old one should drain as in any shutdown and exit 0.",
	CodeProbeLag: "The probe's own timings may be late by as much: run it on a quieter machine, or with fewer clients.",
	CodeNoSignal: "Give --pid to have the probe signal the server and judge its exit.",
	CodeUntested: "Check the paths and methods (--busy-path, --slow-path, --ws-path, --sse-path) against what the server serves, and that it has workers to spare for the load.",
	CodeErrorsSent: "5xx answers during a shutdown are failures to clients that do not retry them; " +
		"a 503 with Retry-After is fine behind clients that honour it, otherwise close the connection and let them reconnect elsewhere.",
	CodeOverloaded: "The figures describe the overload, not the shutdown: lower --busy (and the other counts) until nothing is refused before the signal.",
}

// A Verdict says whether a shutdown passed, and why not. It fails for each of
// these reasons:
//
//   - [CodeLost]: requests (not streams) were lost on established
//     connections.
//   - [CodeSlowIncomplete]: slow requests were not answered with a 2xx
//     status.
//   - [CodeExitCode]: the process exited with a non-zero code, or was
//     ended by a signal (SIGKILL from the probe aside); the reason says
//     whether it handled the signal first, as far as the answers show.
//   - [CodeKilled]: the probe killed it at the end of the grace period.
//   - [CodeExitLag]: it exited more than probe.Config.MaxExitLag after its last
//     response (or after the signal, if it answered nothing after it).
//   - [CodeHeldSockets]: it still held idle connections or silent sockets
//     when it had had nothing to answer for MaxExitLag; the probe
//     closed them, and it exited within 600 ms (quietExitWindow): it waited
//     for connections that would send nothing. One that lives on after
//     they are closed lingers for another reason, which its
//     [CodeExitLag] says.
//   - [CodeStreamsCut]: WebSocket, SSE or gRPC Watch streams were cut
//     without a clean end, or were still open when it exited.
//   - [CodeServedAfter]: requests were still answered after the process
//     exited: another process serves the port, such as the server under a
//     wrapper (a shell, npm) that did not pass the signal on.
//
// The reasons about the exit do not apply when there is no process (target
// mode without a PID), nor does the exit code when it is unknown. The
// warnings are [CodeProbeLag] (see [Report.KeptUp]), [CodeNoSignal],
// [CodeUntested] (the busy clients got no 2xx answer before the signal, or
// streams could not open: a wrong path?), [CodeErrorsSent] (5xx answers
// after the signal) and [CodeOverloaded] (connections refused before the
// signal, or the signal a second (overloadSignalLag) late: the run judged the load,
// not the shutdown). A run warned untested or overloaded proves nothing,
// whatever its verdict.
type Verdict struct {
	// Pass reports that there is no reason to fail.
	Pass bool `json:"pass"`
	// Reasons are why it failed; Warnings what makes the run less
	// telling, whether it passed or not.
	Reasons  []Finding `json:"reasons"`
	Warnings []Finding `json:"warnings"`
}

// String formats the verdict: "PASS" or "FAIL", then a line for each
// reason and warning.
func (v Verdict) String() string {
	var b strings.Builder
	if v.Pass {
		b.WriteString("PASS\n")
	} else {
		b.WriteString("FAIL\n")
	}
	for _, f := range v.Reasons {
		fmt.Fprintf(&b, "  %s: %s\n", f.Code, f.Text)
	}
	for _, f := range v.Warnings {
		fmt.Fprintf(&b, "  warning %s: %s\n", f.Code, f.Text)
	}
	return b.String()
}

// Judge judges the shutdown the report describes, the process allowed to
// live on maxExitLag once it had nothing left to answer (0: the
// default), as probe's Run does to fill in [Report.Verdict]: see
// [Verdict]. The report must be complete ([Report.Complete]).
func (r *Report) Judge(maxExitLag time.Duration) Verdict {
	if maxExitLag <= 0 {
		maxExitLag = DefaultMaxExitLag
	}
	v := Verdict{Reasons: []Finding{}, Warnings: []Finding{}}
	// failAdvised fails with advice of its own, fail with the code's.
	failAdvised := func(code, advice, format string, args ...any) {
		v.Reasons = append(v.Reasons, Finding{code, fmt.Sprintf(format, args...), advice})
	}
	fail := func(code, format string, args ...any) { failAdvised(code, advice[code], format, args...) }
	warn := func(code, format string, args ...any) {
		v.Warnings = append(v.Warnings, Finding{code, fmt.Sprintf(format, args...), advice[code]})
	}

	total := r.Total()
	switch {
	case len(r.Upgrades) > 0:
		r.judgeUpgrades(failAdvised, fail)
	case total.Lost > 0:
		text := fmt.Sprintf("%s %s lost on established connections", FormatCount(total.Lost), plural(total.Lost, "request"))
		if why := r.lostReasons(); why != "" {
			text += " (" + why + ")"
		}
		failAdvised(CodeLost, r.lostAdvice(func(Record) bool { return true }, total.Lost, total.LostReused), "%s", text)
	}
	if n := r.Load.Slow; n > 0 && len(r.Upgrades) == 0 && r.SlowCompleted() < n {
		fail(CodeSlowIncomplete, "%d of %d slow requests not answered 2xx (%d lost, %d answered otherwise, %d refused, %d aborted)",
			n-r.SlowCompleted(), n, r.Slow.Lost, r.Slow.Answered()-r.SlowCompleted(), r.Slow.Refused, r.Slow.Aborted)
	}
	if e := r.Exit; !e.At.IsZero() {
		switch {
		case e.Killed:
			text := fmt.Sprintf("killed with SIGKILL %v after the signal: it had not exited within the grace period", formatDuration(r.SignalToExit()))
			if idle, silent := r.quietOpen(e.At.Add(-exitMargin)); idle+silent > 0 && r.holdQuiet {
				n := idle + silent
				were := fmt.Sprintf("%d quiet connections were", n)
				if n == 1 {
					were = "1 quiet connection was"
				}
				text += fmt.Sprintf("; %s still open then, kept open by the probe (--hold-quiet): run without it to see whether the server waits for them", were)
			}
			fail(CodeKilled, "%s", text)
		case e.Unknown:
		case e.Signal != nil:
			fail(CodeExitCode, "%s", r.endedBySignal())
		case e.Code != 0:
			fail(CodeExitCode, "exit code %d", e.Code)
		}
		r.exitLag(maxExitLag, fail)
		if n := r.Timeline.answeredFrom(e.At.Add(2 * r.Timeline.Bucket)); n > 0 && r.SignalGroup {
			failAdvised(CodeServedAfter, "The exit the probe sees, and a supervisor would, is the wrapper's. Make the wrapper exec the server (exec node app.js), so that the server is the process, or have it wait for the server and exit with its status.",
				"%s %s answered after the process exited: it is a wrapper that died of the signal while the server it started, signalled too as one of its group, went on", FormatCount(n), plural(n, "request"))
		} else if n > 0 {
			fail(CodeServedAfter, "%s %s answered after the process exited: another process still serves the port (the server under a wrapper, such as a shell or npm, that did not pass the signal on?)", FormatCount(n), plural(n, "request"))
		}
	}
	var cut []string
	for _, s := range []struct {
		name string
		c    Counts
	}{{"WebSocket", r.WebSocket}, {"SSE", r.SSE}, {"gRPC Watch", r.Watch}} {
		if n := s.c.Lost; n > 0 {
			cut = append(cut, fmt.Sprintf("%d of %d %s %s", n, s.c.Total(), s.name, plural(s.c.Total(), "stream")))
		}
	}
	if len(cut) > 0 {
		fail(CodeStreamsCut, "%s cut without a clean end (a close frame, the end of the response, gRPC trailers)", joinAnd(cut...))
	}

	switch {
	case r.Load.Busy == 0:
	case r.busyOKBefore > 0 && r.BusyRate < float64(r.Load.Busy):
		warn(CodeUntested, "the busy clients were answered at %.1f requests/s before the signal, less than one a second each: the server was busy with something else (the slow requests or the quiet connections may hold every worker of a server with one per connection), so the shutdown was tested under almost no load", r.BusyRate)
	case r.busyOKBefore > 0:
	case r.Load.GRPC:
		warn(CodeUntested, "the busy clients' health Checks got no OK answer before the signal: is grpc.health.v1.Health registered, and the service %q SERVING?", r.Load.GRPCService)
	default:
		warn(CodeUntested, "the busy clients got no 2xx answer before the signal (%s %s): the probe tested nothing useful", r.Load.BusyMethod, r.Load.BusyPath)
	}
	if n := r.Load.WebSockets; n > 0 && r.WebSocketsOpen < n {
		warn(CodeUntested, "%d of %d WebSocket streams could not be opened on %s", n-r.WebSocketsOpen, n, r.Load.WebSocketPath)
	}
	if n := r.Load.SSE; n > 0 && r.SSEOpen < n {
		warn(CodeUntested, "%d of %d event streams could not be opened on %s", n-r.SSEOpen, n, r.Load.SSEPath)
	}
	if n := r.Load.Watches; n > 0 && r.WatchesOpen < n {
		warn(CodeUntested, "%d of %d gRPC health Watch streams could not be opened (is grpc.health.v1.Health registered?)", n-r.WatchesOpen, n)
	}
	if n := r.Timeline.status5xxFrom(r.SignalAt); !r.SignalAt.IsZero() && n > 0 {
		warn(CodeErrorsSent, "%s %s answered with a 5xx status after the signal", FormatCount(n), plural(n, "request"))
	}
	if n := r.connRefusedBefore; n > 0 && !r.SignalAt.IsZero() {
		warn(CodeOverloaded, "%s %s refused before the signal: the server (or the machine) could not take the load, so the run judged the load, not the shutdown; use fewer clients", FormatCount(n), plural(n, "connection"))
	}
	if r.SignalLag > overloadSignalLag {
		warn(CodeOverloaded, "the probe sent the signal %s late: it could not keep its schedule under this load, so the run proves nothing; use fewer clients", formatDuration(r.SignalLag))
	}
	if !r.KeptUp() {
		warn(CodeProbeLag, "the probe did not keep up: its scheduling lag reached %s at the 99th percentile (max %s) and it sent the signal %s late (limits %v and %v); its timings may be late by as much",
			formatDuration(r.LagP99), formatDuration(r.LagMax), formatDuration(r.SignalLag), keepUpLagP99, keepUpSignalLag)
	}
	if r.Target != "" && r.PID == 0 {
		warn(CodeNoSignal, "no signal sent (target mode without a PID): the load ran for %v; the exit is not judged", r.End.Sub(r.Start).Round(time.Millisecond))
	}
	v.Pass = len(v.Reasons) == 0
	return v
}

// endedBySignal says what is known of a process ended by a signal: one that
// does not handle it dies at once, answering nothing more; one that
// answered requests well after it handled it, and was then ended by it
// on purpose (some servers re-raise the signal once drained).
func (r *Report) endedBySignal() string {
	e := r.Exit
	name := proc.SignalName(e.Signal)
	head := fmt.Sprintf("ended by %s (exit %d), not by an exit of its own", name, e.ShellCode())
	if r.SignalAt.IsZero() || e.Signal != r.Signal {
		return head + ": supervisors count that as a failure"
	}
	// Answers up to the exit only: after it, another process answered.
	late := r.Timeline.answeredBetween(r.SignalAt.Add(2*r.Timeline.Bucket), e.At)
	if late > 0 {
		return fmt.Sprintf("%s: it answered %s %s after the signal, so it handled it, then let it end the process (re-raised it?); supervisors count exit %d as a failure: exit 0 once the shutdown is done",
			head, FormatCount(late), plural(late, "request"), e.ShellCode())
	}
	return fmt.Sprintf("%s, %s after the signal, answering nothing after it: most likely it does not handle %s; handle it and exit 0 once drained",
		head, formatDuration(r.SignalToExit()), name)
}

// exitLag adds the reasons about how long the process lived on: CodeExitLag
// and CodeHeldSockets.
func (r *Report) exitLag(maxLag time.Duration, fail func(code, format string, args ...any)) {
	if r.SignalAt.IsZero() {
		return
	}
	// quiet is when the process had nothing left to answer, as far as the
	// probe knows: its last response, or the end of the last slow request
	// if it cut one later (a server's own graceful timeout does).
	quiet, since := r.SignalAt, "the signal"
	if r.LastResponse.After(quiet) {
		quiet, since = r.LastResponse, "its last response"
	}
	for _, rec := range r.Records {
		if rec.Kind == Slow && rec.Outcome != Answered && rec.Done.After(quiet) {
			quiet, since = rec.Done, "the end of its last request in flight"
		}
	}
	lag := r.Exit.At.Sub(quiet)
	if lag <= maxLag {
		return
	}
	// The quiet connections the server still held when the probe closed
	// them: not seen closed before.
	var held string
	if closed := r.QuietClosedAt; !closed.IsZero() {
		idle, silent := r.quietOpen(closed)
		var parts []string
		if silent > 0 {
			parts = append(parts, fmt.Sprintf("%d silent %s", silent, plural(silent, "socket")))
		}
		if idle > 0 {
			parts = append(parts, fmt.Sprintf("%d idle %s", idle, plural(idle, "connection")))
		}
		held = joinAnd(parts...)
	}
	// An exit before the closes (the process was on its way out) is no
	// evidence either way.
	after := r.Exit.At.Sub(r.QuietClosedAt)
	waited := held != "" && !r.Exit.Killed && after >= 0 && after <= quietExitWindow
	if !r.Exit.Killed && !waited { // held-sockets says why, when it waited
		text := fmt.Sprintf("exited %s after %s (more than %v)", formatOver(lag, maxLag), since, maxLag)
		if held != "" && after > quietExitWindow {
			text += fmt.Sprintf("; the probe closed the %s it still held %s after %s, and it lived on %s more: it lingered for another reason",
				held, formatDuration(r.QuietClosedAt.Sub(quiet)), since, formatDuration(r.Exit.At.Sub(r.QuietClosedAt)))
		}
		fail(CodeExitLag, "%s", text)
	}
	if waited {
		fail(CodeHeldSockets, "%s still open %s after %s; once the probe closed them, the process exited %s later: it waited for connections that send nothing",
			held, formatDuration(r.QuietClosedAt.Sub(quiet)), since, formatDuration(r.Exit.At.Sub(r.QuietClosedAt)))
	}
}

// quietOpen returns how many idle connections and silent sockets were
// still open at t: not seen closed before.
func (r *Report) quietOpen(t time.Time) (idle, silent int) {
	return r.IdleOpen - countBefore(r.IdleClosed, t), r.SilentOpen - countBefore(r.SilentClosed, t)
}

// lostReasons describes lostBy, the most frequent reason first.
func (r *Report) lostReasons() string {
	type count struct {
		why Reason
		n   int
	}
	var cs []count
	for why, n := range r.lostBy {
		cs = append(cs, count{why, n})
	}
	slices.SortFunc(cs, func(a, b count) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.why, b.why))
	})
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d %s", c.n, c.why)
	}
	return strings.Join(parts, ", ")
}

// deathMargin is how long before a process's death a request it lost
// counts as lost with it.
const deathMargin = 50 * time.Millisecond

// lostAdvice says what lost requests mean and what usually fixes it, from
// where they were lost: lost requests, reused of them on reused keep-alive
// connections, their records those that in selects.
func (r *Report) lostAdvice(in func(Record) bool, lost, reused int) string {
	// Losses at the death of the process are its doing; those before it
	// are the server's.
	var atDeath, before int
	for _, rec := range r.Records {
		if rec.Kind.IsRequest() && rec.Outcome == Lost && in(rec) {
			if e := r.Exit; (e.Killed || e.Signal != nil) && !rec.Done.Before(e.At.Add(-deathMargin)) {
				atDeath++
			} else {
				before++
			}
		}
	}
	var parts []string
	switch e := r.Exit; {
	case atDeath > 0 && e.Killed:
		parts = append(parts, "The probe killed the process at the grace period, and what was still in flight died with it. "+
			"Bound the shutdown so that it ends, answering everything, well within the grace period.")
	case atDeath > 0:
		parts = append(parts, "The process died of a signal with connections open, and what was in flight died with it. "+
			"Handle the signal: stop accepting, answer what is in flight, then exit.")
	}
	if before == 0 && atDeath > 0 {
		return strings.Join(parts, " ")
	}
	if reused > 0 {
		parts = append(parts, "Requests lost on reused keep-alive connections mean the server closed a connection it had kept alive without first answering \"Connection: close\" on it: "+
			"clients that retry idempotent requests hide it, but POSTs fail. Mark the last response on each busy connection with \"Connection: close\", and close only quiet connections; "+
			"in a proxy or a framework, look for its graceful-shutdown and keep-alive settings.")
	}
	if lost > reused {
		parts = append(parts, "Requests lost on new connections mean the server accepted a connection (or left it in its accept queue) and closed it without answering: "+
			"the listener was closed with connections still queued, or the process exited with requests in flight. "+
			"Stop accepting without resetting the queue (answer what was queued), and exit only once the requests in flight are answered.")
	}
	return strings.Join(parts, " ")
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// FormatCount formats n with commas between groups of three digits, as
// reports print counts: "80,047".
func FormatCount(n int) string {
	if n < 0 {
		return "-" + formatDigits(strconv.FormatUint(uint64(-(n+1))+1, 10))
	}
	return formatDigits(strconv.Itoa(n))
}

// formatDigits puts commas between groups of three digits.
func formatDigits(s string) string {
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// joinAnd joins the non-empty parts with commas and "and".
func joinAnd(parts ...string) string {
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// formatOver formats d, which is over limit, precisely enough that it
// does not read as limit: 1,043 ms rather than 1.0 s over 1s.
func formatOver(d, limit time.Duration) string {
	if s := formatDuration(d); s != formatDuration(limit) {
		return s
	}
	return FormatCount(int(d.Milliseconds())) + " ms"
}

// formatDuration formats a duration as people read one in a report:
// "1.2 s", "340 ms", "1.7 ms".
func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Second || d <= -time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond || d <= -100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", ms(d))
	}
	return fmt.Sprintf("%.1f ms", ms(d))
}
