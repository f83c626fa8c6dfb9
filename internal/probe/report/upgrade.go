package report

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// An Upgrade is one upgrade of an upgrade run (probe.Upgrades) and what
// followed it.
type Upgrade struct {
	// SignalAt is when the probe sent the upgrade signal to OldPID, and
	// SignalLag how much later than planned.
	SignalAt  time.Time
	SignalLag time.Duration
	// OldPID is the process that served when the signal was sent.
	OldPID int
	// NewPID is the process the PID file named next, and NewAt when the
	// probe read it there; 0 and zero if it named none within
	// probe.Upgrades.Timeout.
	NewPID int
	NewAt  time.Time
	// OldExit is how the old process ended, and when; At is zero if it
	// had not exited within probe.Upgrades.Timeout after the signal (it was
	// killed at the end of the run), or the PID did not change.
	OldExit proc.Exit
	// NewExit is how the new process ended, if it exited while it was
	// the one serving, before the next signal: the run ended there.
	NewExit proc.Exit
	// Err says what kept the probe from following the upgrade, if
	// something did: the signal could not be sent, or the PID file named
	// a process that does not exist.
	Err string

	// Refused, Lost and LostReused count the requests refused and lost
	// that ended from this signal to the next one (or the shutdown
	// signal), from [Report.Records].
	Refused, Lost, LostReused int
	// Slow is the number of slow requests sent to be in flight at the
	// signal, and SlowCompleted those answered 2xx.
	Slow, SlowCompleted int
}

// window returns the part of an upgrade run that t falls in: 0 before the
// first upgrade signal, i from the i-th upgrade signal to the next,
// len(Upgrades)+1 from the shutdown signal.
func (r *Report) window(t time.Time) int {
	w := 0
	for i, u := range r.Upgrades {
		if !t.Before(u.SignalAt) {
			w = i + 1
		}
	}
	if !r.SignalAt.IsZero() && !t.Before(r.SignalAt) {
		w = len(r.Upgrades) + 1
	}
	return w
}

// countUpgrades counts, for each upgrade, the requests refused and lost
// from its signal to the next, and the slow requests meant to be in
// flight at it, from the records. Records past probe.Config.MaxRecords are
// not counted.
func (r *Report) countUpgrades() {
	if len(r.Upgrades) == 0 {
		return
	}
	for i := range r.Upgrades {
		u := &r.Upgrades[i]
		u.Refused, u.Lost, u.LostReused, u.Slow, u.SlowCompleted = 0, 0, 0, r.Load.Slow, 0
	}
	for _, rec := range r.Records {
		if !rec.Kind.IsRequest() {
			continue
		}
		if rec.Kind == Slow && r.Load.Slow > 0 {
			// Batch b is sent to be in flight at signal b+1 (the last
			// one at the shutdown signal).
			if b := rec.Client / r.Load.Slow; b < len(r.Upgrades) && rec.Outcome == Answered && rec.Status/100 == 2 {
				r.Upgrades[b].SlowCompleted++
			}
		}
		w := r.window(rec.Done)
		if w < 1 || w > len(r.Upgrades) {
			continue
		}
		u := &r.Upgrades[w-1]
		switch rec.Outcome {
		case Refused:
			u.Refused++
		case Lost:
			u.Lost++
			if rec.Seq > 1 {
				u.LostReused++
			}
		}
	}
}

// describe describes the upgrade in one line: the PIDs, how long the new
// process took to take over, how the old one ended, and what became of
// the requests meanwhile. sig is the upgrade signal, timeout
// probe.Upgrades.Timeout.
func (u Upgrade) describe(sig os.Signal, timeout time.Duration) string {
	var b strings.Builder
	name := proc.SignalName(sig)
	switch {
	case u.Err != "":
		fmt.Fprintf(&b, "%s to %d: %s", name, u.OldPID, u.Err)
	case u.NewPID == 0 && !u.OldExit.At.IsZero():
		fmt.Fprintf(&b, "%s to %d: it exited %v %s later, and no new process took over", name, u.OldPID, u.OldExit, formatDuration(u.OldExit.At.Sub(u.SignalAt)))
	case u.NewPID == 0:
		fmt.Fprintf(&b, "%s to %d: the PID file named no new process within %v; %d served on", name, u.OldPID, timeout, u.OldPID)
	default:
		fmt.Fprintf(&b, "%s, %d -> %d in %s", name, u.OldPID, u.NewPID, formatDuration(u.NewAt.Sub(u.SignalAt)))
		if e := u.OldExit; e.At.IsZero() {
			fmt.Fprintf(&b, "; the old one had not exited %v later", timeout)
		} else if e.Unknown {
			fmt.Fprintf(&b, "; the old one %v %s after the signal", e, formatDuration(e.At.Sub(u.SignalAt)))
		} else {
			fmt.Fprintf(&b, "; the old one: exit %v, %s after the signal", e, formatDuration(e.At.Sub(u.SignalAt)))
		}
		if e := u.NewExit; !e.At.IsZero() {
			fmt.Fprintf(&b, "; the new one exited %v %s after it took over", e, formatDuration(e.At.Sub(u.NewAt)))
		}
	}
	fmt.Fprintf(&b, "; %s refused, %s lost", FormatCount(u.Refused), FormatCount(u.Lost))
	if u.Slow > 0 {
		fmt.Fprintf(&b, ", slow %d of %d answered", u.SlowCompleted, u.Slow)
	}
	return b.String()
}

// judgeUpgrades adds the reasons to fail an upgrade run for: at each
// upgrade, no new process, an old process that did not exit 0, a new one
// that died, connections refused, requests lost and slow requests not
// answered from its signal to the next; and the requests lost and slow
// ones not answered before the first upgrade and from the shutdown
// signal on, as any run judges them.
func (r *Report) judgeUpgrades(failAdvised func(code, advice, format string, args ...any), fail func(code, format string, args ...any)) {
	sig := proc.SignalName(r.UpgradeSignal)
	lostText := func(lost, reused int) string {
		s := fmt.Sprintf("%s %s lost", FormatCount(lost), plural(lost, "request"))
		switch {
		case reused == lost:
			return s + " on reused keep-alive connections"
		case reused > 0:
			return s + fmt.Sprintf(" (%s on reused keep-alive connections)", FormatCount(reused))
		}
		return s + " on new connections"
	}
	for i, u := range r.Upgrades {
		n := i + 1
		switch e := u.OldExit; {
		case u.Err != "":
			fail(CodeUpgradePID, "upgrade %d: %s", n, u.Err)
		case u.NewPID == 0 && !e.At.IsZero():
			fail(CodeUpgradePID, "upgrade %d: process %d exited %v %s after %s, and no new process took over: the service went down",
				n, u.OldPID, e, formatDuration(e.At.Sub(u.SignalAt)), sig)
		case u.NewPID == 0:
			fail(CodeUpgradePID, "upgrade %d: the PID did not change within %v: the PID file %s still named %d", n, r.UpgradeTimeout, r.PIDFile, u.OldPID)
		case e.At.IsZero():
			fail(CodeUpgradeExit, "upgrade %d: old process %d had not exited %v after %s", n, u.OldPID, r.UpgradeTimeout, sig)
		case e.Unknown:
		case e.Signal != nil:
			fail(CodeUpgradeExit, "upgrade %d: old process %d was ended by %s (exit %d), %s after %s", n, u.OldPID, proc.SignalName(e.Signal), e.ShellCode(), formatDuration(e.At.Sub(u.SignalAt)), sig)
		case e.Code != 0:
			fail(CodeUpgradeExit, "upgrade %d: old process %d exited %d, %s after %s", n, u.OldPID, e.Code, formatDuration(e.At.Sub(u.SignalAt)), sig)
		}
		if e := u.NewExit; !e.At.IsZero() {
			fail(CodeUpgradeExit, "upgrade %d: the new process %d exited %v %s after it took over, leaving nothing serving", n, u.NewPID, e, formatDuration(e.At.Sub(u.NewAt)))
		}
		if u.Refused > 0 {
			fail(CodeRefused, "%s %s refused at upgrade %d", FormatCount(u.Refused), plural(u.Refused, "connection"), n)
		}
		if u.Lost > 0 {
			in := func(rec Record) bool { return r.window(rec.Done) == n }
			failAdvised(CodeLost, r.lostAdvice(in, u.Lost, u.LostReused), "%s at upgrade %d", lostText(u.Lost, u.LostReused), n)
		}
		if u.Slow > 0 && u.SlowCompleted < u.Slow {
			fail(CodeSlowIncomplete, "upgrade %d: %d of %d slow requests in flight at it not answered 2xx", n, u.Slow-u.SlowCompleted, u.Slow)
		}
	}

	// Before the first upgrade, and from the shutdown signal on.
	last := len(r.Upgrades) + 1
	var lost, reused [2]int
	slow := 0
	for _, rec := range r.Records {
		if !rec.Kind.IsRequest() {
			continue
		}
		if rec.Kind == Slow && r.Load.Slow > 0 && rec.Client/r.Load.Slow == len(r.Upgrades) && rec.Outcome == Answered && rec.Status/100 == 2 {
			slow++
		}
		w := r.window(rec.Done)
		if rec.Outcome != Lost || w != 0 && w != last {
			continue
		}
		k := min(w, 1)
		lost[k]++
		if rec.Seq > 1 {
			reused[k]++
		}
	}
	for k, when := range []string{"before the first upgrade", "from the shutdown signal on"} {
		if lost[k] == 0 {
			continue
		}
		w := k * last
		in := func(rec Record) bool { return r.window(rec.Done) == w }
		failAdvised(CodeLost, r.lostAdvice(in, lost[k], reused[k]), "%s %s", lostText(lost[k], reused[k]), when)
	}
	if n := r.Load.Slow; n > 0 && !r.SignalAt.IsZero() && slow < n {
		fail(CodeSlowIncomplete, "%d of %d slow requests in flight at the shutdown signal not answered 2xx", n-slow, n)
	}
}
