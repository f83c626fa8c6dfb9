//go:build unix

package main

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A summary is one row of the table: what a target's drains did.
type summary struct {
	target *target
	drains int // counted: run to the end
	failed int // could not run
	// How the counted drains ended; a hang counts only as a hang.
	exit0, exit1, exitOther, bySignal, hangs int
	bySignalAt                               []time.Duration // their first signals, after the start
	bySignalSecond                           int             // of them, drains that got a second signal
	exit0WithLoss, unexplainedExit1          int
	diedDespiteHandler, crashes              int
	load                                     tally // the counts; lostKept is left empty
	lostDrains                               int   // drains that lost requests
	lostDrainsExit0                          int   // of them, drains that exited 0
	lost                                     []offsetLost
	signalToExit                             []time.Duration
	seconds, secondExit1                     int             // drains that got a second signal, and of them exits 1
	secondToExit                             []time.Duration // from the second signal, for those exits 1
	bad                                      []*drainResult
}

// An offsetLost is a lost request, with when it was sent relative to its
// drain's first signal.
type offsetLost struct {
	lostRequest
	sent time.Duration
}

// summarize sums up a target's results.
func summarize(t *target, rs []drainResult) summary {
	s := summary{target: t}
	for i := range rs {
		r := &rs[i]
		switch {
		case r.target == nil || r.interrupted:
			continue
		case r.err != nil:
			s.failed++
			s.bad = append(s.bad, r)
			continue
		}
		s.drains++
		switch {
		case r.hung:
			s.hangs++
		case r.exit.bySignal():
			s.bySignal++
			s.bySignalAt = append(s.bySignalAt, r.firstSignal.Sub(r.started))
			if !r.secondSignal.IsZero() {
				s.bySignalSecond++
			}
		case r.exit.code == 0:
			s.exit0++
		case r.exit.code == 1:
			s.exit1++
		default:
			s.exitOther++
		}
		if r.exitedZeroWithLoss() {
			s.exit0WithLoss++
		}
		if r.unexplainedExit1() {
			s.unexplainedExit1++
		}
		if r.diedDespiteHandler() {
			s.diedDespiteHandler++
		}
		if r.log.crash != "" {
			s.crashes++
		}
		counts := r.load
		counts.lostKept = nil
		s.load.add(counts)
		if r.load.lost > 0 {
			s.lostDrains++
			if r.exitedZeroWithLoss() {
				s.lostDrainsExit0++
			}
		}
		for _, l := range r.load.lostKept {
			s.lost = append(s.lost, offsetLost{l, l.sent.Sub(r.reference())})
		}
		if r.signalled() && !r.hung {
			s.signalToExit = append(s.signalToExit, r.exitAt.Sub(r.firstSignal))
		}
		if !r.secondSignal.IsZero() {
			s.seconds++
			if !r.hung && !r.exit.bySignal() && r.exit.code == 1 {
				s.secondExit1++
				s.secondToExit = append(s.secondToExit, r.exitAt.Sub(r.secondSignal))
			}
		}
		if len(r.problems()) > 0 {
			s.bad = append(s.bad, r)
		}
	}
	return s
}

// reference is the moment a drain's times are told from: the first
// signal, or the exit if no signal was delivered.
func (r *drainResult) reference() time.Time {
	if r.signalled() {
		return r.firstSignal
	}
	return r.exitAt
}

// columns are the table's; each cell is computed from a summary.
var columns = []struct {
	header string
	cell   func(s *summary) string
}{
	{"drains", func(s *summary) string { return group3(s.drains) }},
	{"exit 0", func(s *summary) string { return group3(s.exit0) }},
	{"exit 1", func(s *summary) string { return group3(s.exit1) }},
	{"by signal", func(s *summary) string {
		if s.bySignal == 0 {
			return "0"
		}
		c := fmt.Sprintf("%s (SIGTERM at %s", group3(s.bySignal), fmtRange(slices.Min(s.bySignalAt), slices.Max(s.bySignalAt)))
		if s.bySignalSecond > 0 {
			c += fmt.Sprintf("; %s had a second", group3(s.bySignalSecond))
		}
		return c + ")"
	}},
	{"exit 0 with loss", func(s *summary) string { return strong(s.exit0WithLoss) }},
	{"exit 1 unexplained", func(s *summary) string {
		if !s.target.server.drain {
			return "-" // only drain's log says why
		}
		return strong(s.unexplainedExit1)
	}},
	{"lost requests (drains)", func(s *summary) string {
		if s.load.lost == 0 {
			return "0"
		}
		return fmt.Sprintf("%s (%s)", group3(s.load.lost), group3(s.lostDrains))
	}},
	{"answered (503)", func(s *summary) string {
		return fmt.Sprintf("%s (%s)", group3(s.load.answered), group3(s.load.unavailable))
	}},
	{"refused (before listening)", func(s *summary) string {
		return fmt.Sprintf("%s (%s)", group3(s.load.refused), group3(s.load.notListening))
	}},
	{"hangs", func(s *summary) string { return strong(s.hangs) }},
	{"panics", func(s *summary) string { return strong(s.crashes) }},
	{"signal -> exit, median / p99", func(s *summary) string {
		if len(s.signalToExit) == 0 {
			return "-"
		}
		return fmtMillis(quantile(s.signalToExit, 0.5)) + " / " + fmtMillis(quantile(s.signalToExit, 0.99))
	}},
}

// A reportInfo is what the report says about the run besides its results.
type reportInfo struct {
	cfg     *soakConfig
	command string // the flags the soak was run with, as bench/soak.sh takes them
	took    time.Duration
}

// report formats the soak's results as markdown: the conditions, the
// table, notes on each target, and every bad drain with how to run it
// again.
func report(info reportInfo, sums []summary) string {
	var b strings.Builder
	cfg := info.cfg
	names := make([]string, 0, len(sums))
	for _, s := range sums {
		names = append(names, s.target.String())
	}
	fmt.Fprintf(&b, "## Chaos soak: %s\n\n", strings.Join(names, ", "))
	fmt.Fprintf(&b, "Machine: %d CPUs, kernel %s; %s; %s. `bench/soak.sh%s`: seed %#x, %d drains of each, %d at a time, in %v.\n\n",
		runtime.NumCPU(), kernel(), runtime.Version(), time.Now().UTC().Format("2006-01-02"),
		info.command, cfg.seed, cfg.drains, max(1, cfg.parallel), info.took.Round(time.Second))
	fmt.Fprintf(&b, "Each drain starts the server on a free loopback port and loads it with raw HTTP/1.1 clients that never retry: "+
		"%d busy keep-alive clients on GET /fast, %d clients opening a connection for each GET /fast, and %d or %d GET /slow?ms=N (N from %d to %d) in flight. "+
		"SIGTERM at a random time up to %v after the start (1 drain in %d within %v: before the server listens, and just after), "+
		"in 1 drain in %d a second SIGTERM up to %v later; the load goes on until the process exits. "+
		"Drain servers run with -timeout %v; a server still running %v after the first signal has hung and is killed.\n\n",
		cfg.drain.load.busy, cfg.drain.load.storm, 1, maxSlow, slowMin.Milliseconds(), slowMax.Milliseconds(),
		cfg.signalWithin, earlyOneIn, earlyWindow, secondOneIn, secondWithin, cfg.drain.timeout, cfg.drain.hangAfter)
	b.WriteString("\"lost\": written on an established connection, no complete response; " +
		"\"refused\": a connection refused once the server had listened (its port closed), and in parentheses before it listened (retried, not a loss); " +
		"\"by signal\": killed by the SIGTERM itself, which happens when it arrives before the Go runtime or drain has installed its handler; " +
		"\"exit 1 unexplained\": exit 1 with no second signal and no forced or failed shutdown in drain's log.\n\n")

	b.WriteString("| server / mode |")
	for _, c := range columns {
		fmt.Fprintf(&b, " %s |", c.header)
	}
	b.WriteString("\n|---|")
	for range columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for i := range sums {
		fmt.Fprintf(&b, "| %s |", sums[i].target)
		for _, c := range columns {
			fmt.Fprintf(&b, " %s |", c.cell(&sums[i]))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")

	var notes strings.Builder
	for i := range sums {
		for _, n := range sums[i].notes() {
			fmt.Fprintf(&notes, "- %s: %s\n", sums[i].target, n)
		}
	}
	if notes.Len() > 0 {
		b.WriteString("### Notes\n\n" + notes.String() + "\n")
	}

	var bad strings.Builder
	for i := range sums {
		s := &sums[i]
		for k, r := range s.bad {
			if k == maxBadListed {
				fmt.Fprintf(&bad, "- %s: %d more bad drains not listed\n", s.target, len(s.bad)-k)
				break
			}
			fmt.Fprintf(&bad, "- %s\n", indent(describe(r), "  "))
			fmt.Fprintf(&bad, "  again: `bench/soak.sh %s`\n", replayFlags(cfg, r))
		}
	}
	if bad.Len() > 0 {
		b.WriteString("### Bad drains\n\n" + bad.String())
	} else {
		b.WriteString("No bad drain.\n")
	}
	return b.String()
}

// maxBadListed bounds the bad drains the report lists per target.
const maxBadListed = 10

// notes describes, beyond the table, what a target's drains did: the lost
// requests by cause, the second signals, what the table leaves out.
func (s *summary) notes() []string {
	var ns []string
	if s.failed > 0 {
		ns = append(ns, fmt.Sprintf("%s could not run (listed below)", plural(s.failed, "drain")))
	}
	if s.exitOther > 0 {
		ns = append(ns, fmt.Sprintf("%s exited with another code than 0 or 1 (listed below)", plural(s.exitOther, "drain")))
	}
	if s.diedDespiteHandler > 0 {
		ns = append(ns, fmt.Sprintf("%s killed by SIGTERM after drain had installed its handler (listed below)", plural(s.diedDespiteHandler, "drain")))
	}
	if s.load.otherStatus > 0 {
		ns = append(ns, fmt.Sprintf("%s responses had a status other than 2xx or 503", group3(s.load.otherStatus)))
	}
	if s.load.lost > 0 {
		ns = append(ns, s.lostByCause())
	}
	if s.seconds > 0 {
		n := fmt.Sprintf("a second SIGTERM reached %s: %d exited 1", plural(s.seconds, "drain"), s.secondExit1)
		if len(s.secondToExit) > 0 {
			n += fmt.Sprintf(" (second signal -> exit: median %s, max %s)",
				fmtMillis(quantile(s.secondToExit, 0.5)), fmtMillis(slices.Max(s.secondToExit)))
		}
		if rest := s.seconds - s.secondExit1; rest > 0 {
			n += fmt.Sprintf("; the other %d had finished draining, or were killed by a signal", rest)
		}
		ns = append(ns, n)
	}
	return ns
}

// lostByCause groups the lost requests kept by kind of client, reason,
// and whether the connection was new, with when they were sent relative
// to their drain's first signal.
func (s *summary) lostByCause() string {
	type cause struct {
		kind   kind
		reason reason
		fresh  bool
	}
	type group struct {
		n        int
		from, to time.Duration
		example  string
	}
	groups := map[cause]*group{}
	var order []cause
	for _, l := range s.lost {
		c := cause{l.kind, l.reason, l.seq == 1}
		at := l.sent
		g := groups[c]
		if g == nil {
			g = &group{from: at, to: at, example: l.err}
			groups[c] = g
			order = append(order, c)
		}
		g.n++
		g.from, g.to = min(g.from, at), max(g.to, at)
	}
	slices.SortStableFunc(order, func(a, b cause) int { return cmp.Compare(groups[b].n, groups[a].n) })
	parts := make([]string, len(order))
	for i, c := range order {
		g := groups[c]
		conn := "a reused keep-alive connection"
		if c.fresh {
			conn = "a new connection"
		}
		parts[i] = fmt.Sprintf("%s %s on %s, sent %s from the signal (e.g. %q)",
			plural(g.n, c.kind.String()+" request"), c.reason, conn, fmtOffsets(g.from, g.to), g.example)
	}
	out := fmt.Sprintf("%s lost in %s (%d of which exited 0): %s",
		group3(s.load.lost), plural(s.lostDrains, "drain"), s.lostDrainsExit0, strings.Join(parts, "; "))
	if kept := len(s.lost); kept < s.load.lost {
		out += fmt.Sprintf(" (the first %d of each drain described, %d in all)", maxLostKept, kept)
	}
	return out
}

// describe tells what happened in one drain, enough to understand it and
// run it again: its first line sums it up, the next ones list its lost
// requests.
func describe(r *drainResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s #%d (drain seed %#x): ", r.target, r.n, r.plan.seed)
	switch {
	case r.err != nil:
		fmt.Fprintf(&b, "could not run: %v", r.err)
		return b.String()
	case r.interrupted:
		b.WriteString("interrupted")
		return b.String()
	}
	since := func(t time.Time) string { return fmtMillis(t.Sub(r.started)) }
	if r.signalled() {
		fmt.Fprintf(&b, "SIGTERM at %s", since(r.firstSignal))
	} else {
		fmt.Fprintf(&b, "SIGTERM planned at %s, not sent", fmtMillis(r.plan.signalAt))
	}
	if r.listened.IsZero() {
		b.WriteString(" (never listened)")
	} else {
		fmt.Fprintf(&b, " (listening at %s)", since(r.listened))
	}
	if !r.secondSignal.IsZero() {
		fmt.Fprintf(&b, ", a second %s later", fmtMillis(r.secondSignal.Sub(r.firstSignal)))
	}
	switch {
	case r.hung:
		fmt.Fprintf(&b, "; hung, killed at %s", since(r.exitAt))
	case r.signalled():
		fmt.Fprintf(&b, "; %s %s after the signal", r.exit, fmtMillis(r.exitAt.Sub(r.firstSignal)))
	default:
		fmt.Fprintf(&b, "; %s at %s", r.exit, since(r.exitAt))
	}
	if r.ports > 1 {
		fmt.Fprintf(&b, " (port %d, the %d tried)", r.port, r.ports)
	}
	t := r.load
	fmt.Fprintf(&b, "; %s answered (%s 503), %s lost, %s refused, %s before listening",
		group3(t.answered), group3(t.unavailable), group3(t.lost), group3(t.refused), group3(t.notListening))
	if ps := r.problems(); len(ps) > 0 {
		fmt.Fprintf(&b, "; BAD: %s", strings.Join(ps, "; "))
	}
	ref := r.reference()
	for _, l := range t.lostKept {
		fmt.Fprintf(&b, "\n  lost: %s request #%d on its connection, %s, sent %s from the signal, %s before the exit: %s",
			l.kind, l.seq, l.reason, fmtOffset(l.sent.Sub(ref)), fmtMillis(r.exitAt.Sub(l.sent)), l.err)
	}
	if n := t.lost - len(t.lostKept); n > 0 {
		fmt.Fprintf(&b, "\n  and %d more lost", n)
	}
	return b.String()
}

// replayFlags returns the flags of bench/soak.sh that run drain r's plan
// again, 20 times.
func replayFlags(cfg *soakConfig, r *drainResult) string {
	s := fmt.Sprintf("-modes %s -drain-seed %#x -drains 20", r.target.selector(), r.plan.seed)
	if cfg.signalWithin != defaultSignalWithin {
		s += " -signal-within " + cfg.signalWithin.String()
	}
	return s
}

// quantile returns the q-quantile of ds by the nearest-rank method.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// fmtMillis formats d in milliseconds: "0.4 ms", "12 ms", "1,234 ms".
func fmtMillis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if math.Abs(ms) < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return group3(int(math.Round(ms))) + " ms"
}

// fmtRange formats the range from lo to hi in milliseconds: "12 ms" if
// they are the same once formatted, else "3.1–12 ms".
func fmtRange(lo, hi time.Duration) string {
	l, h := fmtMillis(lo), fmtMillis(hi)
	if l == h {
		return l
	}
	return strings.TrimSuffix(l, " ms") + "–" + h
}

// fmtOffsets formats the range of offsets from lo to hi: "+0.4 ms" if
// they are the same once formatted, else "-2.1 to +12 ms".
func fmtOffsets(lo, hi time.Duration) string {
	l, h := fmtOffset(lo), fmtOffset(hi)
	if l == h {
		return l
	}
	return strings.TrimSuffix(l, " ms") + " to " + h
}

// plural formats a count of things: "1 drain", "2 drains".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return group3(n) + " " + thing + "s"
}

// fmtOffset formats d in milliseconds with its sign: "+0.4 ms", "-12 ms".
func fmtOffset(d time.Duration) string {
	if d >= 0 {
		return "+" + fmtMillis(d)
	}
	return fmtMillis(d)
}

// group3 formats n with commas between thousands.
func group3(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// strong formats a count of failures, in bold unless it is 0.
func strong(n int) string {
	if n == 0 {
		return "0"
	}
	return "**" + group3(n) + "**"
}

func indent(s, prefix string) string { return strings.ReplaceAll(s, "\n", "\n"+prefix) }

// kernel returns the kernel's release.
func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
