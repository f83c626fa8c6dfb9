package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// WriteText writes the report for people: what was sent, what became of
// it before and after the signal, how the process ended, and the verdict.
// name names the server; "" names it by its command.
func (r *Report) WriteText(w io.Writer, name string) {
	v := &view{r, name}
	fmt.Fprintf(w, "drainprobe: %s on %s\n", commandLine(v), v.Addr)
	fmt.Fprintf(w, "load: %s\n\n", loadLine(v))

	before, after := v.split()
	if v.signalled() {
		fmt.Fprintf(w, "%-14s %18s %10s\n", "requests sent", "before the signal", "after it")
		for _, row := range countRows(before, after) {
			fmt.Fprintf(w, "%-14s %18s %10s\n", row.Label(), FormatCount(row.Before), FormatCount(row.After))
		}
	} else { // no signal: one column
		fmt.Fprintf(w, "%-14s %18s\n", "requests", "during the run")
		for _, row := range countRows(before, after) {
			fmt.Fprintf(w, "%-14s %18s\n", row.Label(), FormatCount(row.Before+row.After))
		}
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if sent := v.Slow.Total(); sent > 0 {
		fmt.Fprintf(tw, "slow requests\t%d of %d answered\n", v.SlowCompleted(), sent)
	}
	if line := exitLine(v); line != "" {
		fmt.Fprintf(tw, "exit\t%s\n", line)
	}
	at, until := heldWords(v)
	if v.SilentOpen > 0 {
		fmt.Fprintf(tw, "silent sockets\t%d open %s, %d closed by the server %s\n", v.SilentOpen, at, v.SilentClosedBeforeExit, until)
	}
	if v.IdleOpen > 0 {
		fmt.Fprintf(tw, "idle keep-alive\t%d open %s, %d closed by the server %s\n", v.IdleOpen, at, v.IdleClosedBeforeExit, until)
	}
	for _, s := range v.streamRows() {
		if s.Open > 0 {
			fmt.Fprintf(tw, "%s streams\t%d open, %d ended cleanly by the server, %d cut\n", s.Name, s.Open, s.Clean, s.Cut)
		}
	}
	kept := "kept up"
	if !v.KeptUp() {
		kept = "did NOT keep up: the figures may flatter the server"
	}
	fmt.Fprintf(tw, "probe\t%s req/s of busy load; lag p99 %.1f ms, max %.1f ms (%s)\n", FormatCount(int(v.BusyRate)), ms(v.LagP99), ms(v.LagMax), kept)
	tw.Flush()

	if lines := upgradeLines(v); len(lines) > 0 {
		fmt.Fprintf(w, "\nupgrades (%s every %s, the PID in %s):\n", proc.SignalName(v.UpgradeSignal), formatDuration(v.UpgradeInterval), v.PIDFile)
		for _, line := range lines {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}

	writeNotable(w, v)

	fmt.Fprintln(w)
	if v.Verdict.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
		for _, r := range onceAdvised(v.Verdict.Reasons) {
			fmt.Fprintf(w, "  - %s\n", r.Text)
			writeWrapped(w, "    ", r.Advice)
		}
	}
	for _, r := range v.Verdict.Warnings {
		fmt.Fprintf(w, "warning: %s\n", r.Text)
		writeWrapped(w, "    ", r.Advice)
	}
	if tail := strings.TrimSpace(v.Output); !v.Verdict.Pass && tail != "" {
		const show = 20
		lines := strings.Split(tail, "\n")
		fmt.Fprintf(w, "\nthe server's output ends with (--json has more):\n")
		for _, line := range lines[max(0, len(lines)-show):] {
			fmt.Fprintf(w, "  | %s\n", line)
		}
	}
}

// String returns the report as [Report.WriteText] writes it.
func (r *Report) String() string {
	var b strings.Builder
	r.WriteText(&b, "")
	return b.String()
}

// upgradeLines describes each upgrade of an upgrade run in a line.
func upgradeLines(v *view) []string {
	var lines []string
	for i, u := range v.Upgrades {
		at := "?"
		if t := v.at(u.SignalAt); t != nil {
			at = msText(*t)
		}
		lines = append(lines, fmt.Sprintf("%d at %s: %s", i+1, at, u.describe(v.UpgradeSignal, v.UpgradeTimeout)))
	}
	return lines
}

// writeWrapped writes text in lines of at most about 80 columns, each
// line indented.
func writeWrapped(w io.Writer, indent, text string) {
	line := indent
	for word := range strings.FieldsSeq(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > 80 {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(w, line)
	}
}

// writeNotable lists the lost requests in the order they were sent, then
// says apart how many connections were refused: after the signal that is
// expected of a server that stopped listening (a client can safely try
// elsewhere), before it not.
func writeNotable(w io.Writer, v *view) {
	lost := v.Lost()
	slices.SortStableFunc(lost, func(a, b Record) int { return cmp.Compare(msOr(v.at(a.Sent)), msOr(v.at(b.Sent))) })
	if len(lost) > 0 {
		const show = 10
		fmt.Fprintf(w, "\nlost requests, in the order they were sent (%d):\n", len(lost))
		for _, n := range lost[:min(show, len(lost))] {
			fmt.Fprintf(w, "  %s #%d request %d, sent %s: %s (%s)\n", n.Kind, n.Client, n.Seq, signedMS(v.at(n.Sent)), n.Reason, errText(n.Err))
		}
		if len(lost) > show {
			fmt.Fprintf(w, "  ... and %d more (--json lists them)\n", len(lost)-show)
		}
	}
	if !v.signalled() {
		return
	}
	after := v.SentAfterSignal.Refused
	before := v.Total().Refused - after
	if before > 0 {
		fmt.Fprintf(w, "\nrefused before the signal: %s requests: the server was not taking all it was sent\n", FormatCount(before))
	}
	if after > 0 {
		fmt.Fprintf(w, "\nrefused after the signal: %s requests, expected once the server stops taking them (its listener closed, or an HTTP/2 GOAWAY): it processed none of them, and a client can safely send them again\n", FormatCount(after))
	}
}

// msOr returns *t, or +Inf if t is nil, so that unknown times sort last.
func msOr(t *float64) float64 {
	if t == nil {
		return math.Inf(1)
	}
	return *t
}

// heldWords say when the held connections were counted open, and until
// when the server's closes count: the signal and the exit, when there are.
func heldWords(v *view) (at, until string) {
	switch {
	case !v.signalled():
		return "at the start", "during the run"
	case len(v.Upgrades) > 0 && v.at(v.Exit.At) == nil:
		return "at the start", "during the run"
	case len(v.Upgrades) > 0:
		return "at the start", "before the last process exited"
	case v.at(v.Exit.At) == nil:
		return "at the signal", "during the run"
	}
	return "at the signal", "before it exited"
}

func commandLine(v *view) string {
	if v.Label != "" {
		return v.Label
	}
	if len(v.Command) == 0 {
		return "the service"
	}
	return strings.Join(v.Command, " ")
}

func loadLine(v *view) string {
	l := v.Load
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	switch {
	case l.GRPC:
		add(l.Busy, fmt.Sprintf("busy gRPC clients with %d health Checks in flight each (service %q)", l.Streams, l.GRPCService))
	case l.HTTP2:
		add(l.Busy, fmt.Sprintf("busy HTTP/2 clients with %d streams each (%s %s)", l.Streams, l.BusyMethod, l.BusyPath))
	default:
		add(l.Busy, fmt.Sprintf("busy keep-alive clients (%s %s)", l.BusyMethod, l.BusyPath))
	}
	add(l.Conns, "clients opening a connection per request")
	add(l.Slow, fmt.Sprintf("slow requests (%s %s)", l.SlowMethod, l.SlowPath))
	add(l.Idle, "idle keep-alive connections")
	add(l.Silent, "silent sockets")
	add(l.WebSockets, "WebSockets ("+l.WebSocketPath+")")
	add(l.SSE, "event streams ("+l.SSEPath+")")
	add(l.Watches, "gRPC health Watch streams")
	line := strings.Join(parts, ", ")
	if l.TLS {
		line += " (HTTP/2 over TLS)"
	}
	switch name := v.signalName(); {
	case v.UpgradeSignal != nil:
		line += fmt.Sprintf("; %s after %s, then every %s (%d upgrades)", proc.SignalName(v.UpgradeSignal), formatDuration(v.Warmup), formatDuration(v.UpgradeInterval), len(v.Upgrades))
		if name != "" {
			line += fmt.Sprintf(", then %s", name)
		}
		if l.Slow > 0 {
			line += fmt.Sprintf("; %d slow requests in flight at each signal", l.Slow)
		}
	case name != "":
		to := ""
		if v.SignalGroup {
			to = " to the process group"
		}
		line += fmt.Sprintf("; %s%s after %s", name, to, formatDuration(v.Warmup))
	}
	return line
}

func exitLine(v *view) string {
	if v.at(v.Exit.At) == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(v.Exit.String())
	if v.signalled() {
		fmt.Fprintf(&b, ", %s after the signal", formatDuration(v.SignalToExit()))
	}
	if d, ok := v.LastResponseToExit(); ok {
		fmt.Fprintf(&b, ", %s after the last response", formatDuration(d))
	}
	return b.String()
}

// countRows are the rows of the table of requests: the classes that
// occurred, and always 2xx, refused and lost.
func countRows(before, after map[string]int) []countRow {
	var rows []countRow
	for _, c := range timelineClasses {
		if before[c] == 0 && after[c] == 0 && c != "2xx" && c != "refused" && c != "lost" {
			continue
		}
		rows = append(rows, countRow{Class: c, Before: before[c], After: after[c]})
	}
	return rows
}

type countRow struct {
	Class         string
	Before, After int
}

func (r countRow) Label() string {
	if r.Class == "refused" || r.Class == "lost" {
		return r.Class
	}
	return "answered " + r.Class
}

// signedMS formats a time from the origin, in ms, or "?" if unknown.
func signedMS(t *float64) string {
	if t == nil {
		return "?"
	}
	return fmt.Sprintf("%+.1f ms", *t)
}

// msText formats a number of milliseconds for people, as the verdicts do.
func msText(v float64) string { return formatDuration(time.Duration(v * float64(time.Millisecond))) }
