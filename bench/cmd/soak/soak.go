//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A soakConfig describes a whole soak.
type soakConfig struct {
	targets []*target
	drains  int // per target
	// seed draws every drain's seed; with replay set, every drain uses
	// drainSeed instead.
	seed      uint64
	replay    bool
	drainSeed uint64
	// signalWithin bounds when the first signal is sent, after the start.
	signalWithin time.Duration
	parallel     int // drains running at once
	drain        drainConfig
	logs         string // a directory to save bad drains' output in; "" for none
}

// jobs returns the drains to run, interleaved so that a noisy moment of
// the machine does not land on one target only: the first drain of each
// target, then the second, and so on.
func (c *soakConfig) jobs() []job {
	seeds := drainSeeds(c.seed)
	jobs := make([]job, 0, c.drains*len(c.targets))
	for n := 1; n <= c.drains; n++ {
		for _, t := range c.targets {
			s := seeds.Uint64()
			if c.replay {
				s = c.drainSeed
			}
			jobs = append(jobs, job{target: t, n: n, plan: newPlan(s, c.signalWithin)})
		}
	}
	return jobs
}

// soak runs the drains of cfg, cfg.parallel at a time, until they are done
// or ctx ends, and returns each target's results in the order of
// cfg.targets, each in the order of its drains. A drain that never began
// has a zero result; one that ctx cut short is marked interrupted.
// Progress goes to pr, whose total it sets.
func soak(ctx context.Context, cfg *soakConfig, pr *progress) [][]drainResult {
	jobs := cfg.jobs()
	results := make([][]drainResult, len(cfg.targets))
	slot := make(map[*target]int, len(cfg.targets))
	for i, t := range cfg.targets {
		results[i] = make([]drainResult, cfg.drains)
		slot[t] = i
	}
	pr.total = len(jobs)
	var next atomic.Int64 // the next job to take
	var wg sync.WaitGroup
	for range max(1, cfg.parallel) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				r := runDrain(ctx, cfg.drain, j)
				if r.counted() && len(r.problems()) == 0 {
					r.output = nil // a good drain's log is not worth its memory
				} else if cfg.logs != "" && r.counted() {
					r.saveOutput(cfg.logs, pr)
				}
				results[slot[j.target]][j.n-1] = r
				pr.drainDone(&results[slot[j.target]][j.n-1])
			}
		})
	}
	wg.Wait()
	return results
}

// saveOutput writes a bad drain's server output in dir.
func (r *drainResult) saveOutput(dir string, pr *progress) {
	name := fmt.Sprintf("%s-%d.log", strings.NewReplacer(" / ", "-", "/", "-", " ", "_").Replace(r.target.String()), r.n)
	if err := os.WriteFile(filepath.Join(dir, name), r.output, 0o644); err != nil {
		pr.printf("soak: %v\n", err)
	}
}

// A progress reports a soak's progress, for workers that call it at once.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool // a line for every drain, not only the bad ones
	began   time.Time
	total   int
	done    int
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// drainDone reports a drain: a line for a bad one (or for each, if
// verbose), and a count now and then.
func (p *progress) drainDone(r *drainResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	bad := r.target != nil && (r.err != nil || (r.counted() && len(r.problems()) > 0))
	if bad || p.verbose {
		fmt.Fprintf(p.w, "[%d/%d] %s\n", p.done, p.total, describe(r))
	}
	if step := max(1, p.total/20); p.done%step == 0 || p.done == p.total {
		fmt.Fprintf(p.w, "[%d/%d] %v\n", p.done, p.total, time.Since(p.began).Round(time.Second))
	}
}
