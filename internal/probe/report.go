package probe

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// A Report is what a run observed. Times are on the probe's clock; use the
// methods for durations between them.
type Report struct {
	// Addr is the address the server listened on.
	Addr string
	// Load is the load that was put on the server, defaults filled in.
	Load Load
	// Warmup is how long the load ran before the signal.
	Warmup time.Duration
	// Signal is the signal sent.
	Signal os.Signal

	// Start is when the busy clients and the slow requests started.
	Start time.Time
	// SignalAt is when the signal was sent; zero if it was not.
	SignalAt time.Time
	// SignalLag is how much later than planned the probe sent the signal:
	// more than a millisecond or so means the probe did not keep up.
	SignalLag time.Duration
	// LastResponse is when the last complete response was read; zero if
	// none was.
	LastResponse time.Time
	// Exit is how the process ended, and when.
	Exit Exit

	// Busy, Slow, Idle and Silent count the outcomes of each kind of
	// request. A silent socket counts only if its connect failed.
	Busy, Slow, Idle, Silent Counts
	// IdleOpen and SilentOpen are the idle connections and silent sockets
	// that were open when the load started.
	IdleOpen, SilentOpen int
	// BusyRate is the number of busy requests answered per second before
	// the signal: whether the probe kept the server busy.
	BusyRate float64

	// Records lists the requests of note (see [Record]), in no particular
	// order; Dropped counts those left out past [Config.MaxRecords].
	Records []Record
	Dropped int

	// Output is the end of what the server wrote on stdout and stderr.
	Output string
}

// fill completes the report from what the recorder and the driver saw.
// The load must have stopped.
func (r *Report) fill(rec *recorder, d *driver) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r.Busy, r.Slow, r.Idle, r.Silent = rec.counts[Busy], rec.counts[Slow], rec.counts[Idle], rec.counts[Silent]
	r.LastResponse = rec.last
	r.Records = rec.records
	r.Dropped = rec.dropped
	r.IdleOpen = d.idle.len()
	r.SilentOpen = d.silent.len()
	if span := r.SignalAt.Sub(r.Start); !r.SignalAt.IsZero() && span > 0 {
		r.BusyRate = float64(rec.busyBefore) / span.Seconds()
	}
}

// Total returns the counts of every kind of request together.
func (r *Report) Total() Counts {
	var c Counts
	for _, k := range []Counts{r.Busy, r.Slow, r.Idle, r.Silent} {
		c.add(k)
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
// left to answer. It returns false if no response was read.
func (r *Report) LastResponseToExit() (time.Duration, bool) {
	if r.LastResponse.IsZero() || r.Exit.At.IsZero() {
		return 0, false
	}
	return r.Exit.At.Sub(r.LastResponse), true
}

// Lost returns the records of the lost requests.
func (r *Report) Lost() []Record {
	var lost []Record
	for _, rec := range r.Records {
		if rec.Outcome == Lost {
			lost = append(lost, rec)
		}
	}
	return lost
}

// String summarises the report in a few lines.
func (r *Report) String() string {
	var b strings.Builder
	total := r.Total()
	if !r.SignalAt.IsZero() {
		fmt.Fprintf(&b, "signal %v after %v of load (%.2fms late); busy clients: %.0f req/s before it\n",
			r.Signal, r.Warmup, ms(r.SignalLag), r.BusyRate)
	}
	fmt.Fprintf(&b, "requests: %d answered %s, %d refused, %d lost (%d on reused connections), %d aborted\n",
		total.Answered(), statusClasses(total), total.Refused, total.Lost, total.LostReused, total.Aborted)
	if r.Load.Slow > 0 {
		fmt.Fprintf(&b, "slow requests completed: %d of %d\n", r.SlowCompleted(), r.Load.Slow)
	}
	if r.Load.Idle > 0 || r.Load.Silent > 0 {
		fmt.Fprintf(&b, "held open at the start: %d of %d idle, %d of %d silent\n", r.IdleOpen, r.Load.Idle, r.SilentOpen, r.Load.Silent)
	}
	if r.Exit.At.IsZero() {
		return b.String()
	}
	fmt.Fprintf(&b, "exit %v", r.Exit)
	if d, ok := r.LastResponseToExit(); ok {
		fmt.Fprintf(&b, ", %.1fms after the last response", ms(d))
	}
	if !r.SignalAt.IsZero() {
		fmt.Fprintf(&b, ", %.1fms after the signal", ms(r.SignalToExit()))
	}
	b.WriteString("\n")
	return b.String()
}

// statusClasses describes the answered counts by status class, as
// "(2xx 1200, 5xx 3)".
func statusClasses(c Counts) string {
	var parts []string
	for class, n := range c.Status {
		if n == 0 {
			continue
		}
		if class == 0 {
			parts = append(parts, fmt.Sprintf("other %d", n))
			continue
		}
		parts = append(parts, fmt.Sprintf("%dxx %d", class, n))
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
