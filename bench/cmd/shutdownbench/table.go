package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
)

// A column of a scenario's table: a header, and the cell for one server's
// successful runs.
type column struct {
	header string
	cell   func(reps []*report.Report) string
}

// count is a column of whole numbers: the median and the range.
func count(header string, f func(*report.Report) int) column {
	return column{header, func(reps []*report.Report) string {
		vs := make([]float64, len(reps))
		for i, r := range reps {
			vs[i] = float64(f(r))
		}
		return spread(vs, func(v float64) string { return thousands(v, 0) })
	}}
}

// millis is a column of durations in milliseconds; runs for which f
// reports false are left out.
func millis(header string, f func(*report.Report) (time.Duration, bool)) column {
	return column{header, func(reps []*report.Report) string {
		var vs []float64
		for _, r := range reps {
			if d, ok := f(r); ok {
				vs = append(vs, ms(d))
			}
		}
		return spread(vs, func(v float64) string {
			if v < 10 {
				return strconv.FormatFloat(v, 'f', 1, 64)
			}
			return thousands(v, 0)
		})
	}}
}

// rate is a column of rates, rounded to the thousand.
func rate(header string, f func(*report.Report) float64) column {
	return column{header, func(reps []*report.Report) string {
		vs := make([]float64, len(reps))
		for i, r := range reps {
			vs[i] = f(r)
		}
		return spread(vs, func(v float64) string { return thousands(v/1000, 0) + "k" })
	}}
}

// exitCodes is the column of exit codes: "0", or "0 (4), 1 (1)" when they
// differ between runs.
func exitCodes() column {
	return column{"exit code", func(reps []*report.Report) string {
		seen := map[string]int{}
		var order []string
		for _, r := range reps {
			s := r.Exit.String()
			if seen[s] == 0 {
				order = append(order, s)
			}
			seen[s]++
		}
		if len(order) == 1 {
			return order[0]
		}
		parts := make([]string, len(order))
		for i, s := range order {
			parts[i] = fmt.Sprintf("%s (%d runs)", s, seen[s])
		}
		return strings.Join(parts, ", ")
	}}
}

// spread formats the median of vs and, if they differ, their range.
func spread(vs []float64, format func(float64) string) string {
	if len(vs) == 0 {
		return "-"
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	lo, hi := format(s[0]), format(s[n-1])
	if lo == hi {
		return format(med)
	}
	return fmt.Sprintf("%s (%s–%s)", format(med), lo, hi)
}

// thousands formats v with prec decimals and commas between thousands.
func thousands(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

// header describes the machine and the run.
func header(reps int, servers []server, results [][][]trial) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Shutdown under SIGTERM: %s\n\n", strings.Join(names(servers), " vs "))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), Linux %s; %s; %s. ",
		runtime.NumCPU(), cpuModel(), kernel(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "%d runs of each scenario against each server, interleaved; each cell is the median, with the range in parentheses when the runs differ. ", reps)
	b.WriteString("The load is raw HTTP/1.1 on loopback, never retried. " +
		"\"lost\" = written on an established connection and never answered; " +
		"\"refused\" = a new connection refused after the listener closed (expected for a single instance). " +
		"Command: `bench/shutdown.sh`.\n\n")
	var shares []float64
	disturbed := 0
	for _, byServer := range results {
		for _, runs := range byServer {
			for _, r := range runs {
				if r.noise.ok {
					shares = append(shares, 100*r.noise.share())
				}
				if r.noise.noisy() {
					disturbed++
				}
			}
		}
	}
	pct := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "%" }
	fmt.Fprintf(&b, "CPU used by other processes during each run: %s of one CPU", spread(shares, pct))
	if disturbed > 0 {
		fmt.Fprintf(&b, "; **%d of %d runs were disturbed by other programs, their timings are skewed** (listed below)", disturbed, len(shares))
	}
	b.WriteString(".\n\n")
	return b.String()
}

// table formats the table of one scenario.
func table(sc scenario, servers []server, runs [][]trial) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n%s.\n\n", sc.name, sc.about)
	b.WriteString("| server |")
	for _, c := range sc.columns {
		fmt.Fprintf(&b, " %s |", c.header)
	}
	b.WriteString("\n|---|")
	for range sc.columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for vi, sv := range servers {
		var ok []*report.Report
		for _, r := range runs[vi] {
			if r.err == nil {
				ok = append(ok, r.rep)
			}
		}
		name := sv.name
		if failed := len(runs[vi]) - len(ok); failed > 0 {
			name += fmt.Sprintf(" (%d of %d runs failed)", failed, len(runs[vi]))
		}
		fmt.Fprintf(&b, "| %s |", name)
		for _, c := range sc.columns {
			fmt.Fprintf(&b, " %s |", c.cell(ok))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}

// notes lists, per scenario and server, the runs that failed and the lost
// requests grouped by cause, with when they were sent relative to the
// signal: the evidence behind the "lost" columns.
func notes(scens []scenario, servers []server, results [][][]trial) string {
	var b strings.Builder
	for si, sc := range scens {
		for vi, sv := range servers {
			for i, r := range results[si][vi] {
				if r.err != nil {
					fmt.Fprintf(&b, "- %s, %s, run %d failed: %v\n", sc.name, sv.name, i+1, oneLine(r.err.Error()))
				}
				if r.noise.noisy() {
					fmt.Fprintf(&b, "- %s, %s, run %d: other processes used %v during it\n", sc.name, sv.name, i+1, r.noise)
				}
				if r.err == nil && !r.rep.KeptUp() {
					fmt.Fprintf(&b, "- %s, %s, run %d: the probe did not keep up (scheduling lag p99 %.1fms, signal %.1fms late)\n",
						sc.name, sv.name, i+1, ms(r.rep.LagP99), ms(r.rep.SignalLag))
				}
			}
			if s := lostByCause(results[si][vi]); s != "" {
				fmt.Fprintf(&b, "- %s, %s: %s\n", sc.name, sv.name, s)
			}
		}
	}
	if b.Len() == 0 {
		return "No request was lost, every run succeeded and no run was disturbed.\n"
	}
	return "### Lost requests, failed and disturbed runs\n\n" + b.String()
}

// A cause groups lost requests.
type cause struct {
	kind   report.Kind
	reason report.Reason
	reused bool
}

// lostByCause describes the lost requests of a server's runs of one
// scenario by cause.
func lostByCause(runs []trial) string {
	type group struct {
		n        int
		from, to time.Duration // sent, relative to the signal
		example  string
	}
	groups := map[cause]*group{}
	total, nruns, dropped := 0, 0, 0
	for _, r := range runs {
		if r.err != nil {
			continue
		}
		dropped += r.rep.Dropped
		lost := r.rep.Lost()
		if len(lost) > 0 {
			nruns++
		}
		for _, rec := range lost {
			total++
			k := cause{rec.Kind, rec.Reason, rec.Seq > 1}
			at := rec.Sent.Sub(r.rep.SignalAt)
			g := groups[k]
			if g == nil {
				g = &group{from: at, to: at}
				if rec.Err != nil {
					g.example = rec.Err.Error()
				}
				groups[k] = g
			}
			g.n++
			g.from, g.to = min(g.from, at), max(g.to, at)
		}
	}
	if total == 0 {
		return ""
	}
	keys := make([]cause, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b cause) int { return cmp.Compare(groups[b].n, groups[a].n) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		g := groups[k]
		conn := "a fresh connection"
		if k.reused {
			conn = "a reused keep-alive connection"
		}
		parts[i] = fmt.Sprintf("%d %s requests %s on %s, sent %+.1f to %+.1f ms from the signal (e.g. %q)",
			g.n, k.kind, k.reason, conn, ms(g.from), ms(g.to), g.example)
	}
	s := fmt.Sprintf("%d lost in %d of %d runs: %s", total, nruns, len(runs), strings.Join(parts, "; "))
	if dropped > 0 {
		s += fmt.Sprintf(" (%d records beyond the bound were not kept)", dropped)
	}
	return s
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// cpuModel returns the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// kernel returns the kernel's release.
func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
