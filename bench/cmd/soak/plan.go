//go:build unix

package main

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// The shape of the chaos: what each drain draws from its seed.
const (
	// One drain in earlyOneIn sends its first SIGTERM within earlyWindow
	// of the server's start. The seed demo takes 20-30 ms to listen on a
	// quiet 2-core machine, so these signals land before the Go runtime
	// has started, before drain has installed its handler, before the
	// server listens, and just after. The others are spread evenly over
	// -signal-within.
	earlyOneIn  = 5
	earlyWindow = 50 * time.Millisecond

	// One drain in secondOneIn sends a second SIGTERM up to secondWithin
	// after the first, which must force the shutdown: drain then exits 1
	// at once.
	secondOneIn  = 5
	secondWithin = 100 * time.Millisecond

	// Each drain has 1 to maxSlow slow clients; each asks for
	// GET /slow?ms=N again and again, N drawn between slowMin and slowMax
	// for each request, so that one is in flight at the signal with
	// some random time left.
	maxSlow = 2
	slowMin = 20 * time.Millisecond
	slowMax = 500 * time.Millisecond
)

// The streams of the PCG generators, one per use of a seed, so that the
// draws of one do not shift those of another.
const (
	seedStream = 0x736f616b // the soak's seed: every drain's seed
	planStream = 0x706c616e // a drain's seed: its plan
	slowStream = 0x736c6f77 // a drain's seed: slow client i's lengths, on stream slowStream+i
)

// A plan is what is random in one drain, drawn from the drain's seed, so
// that a drain can be run again with the same choices (-drain-seed); its
// timing, which the machine decides, differs from run to run.
type plan struct {
	seed        uint64
	signalAt    time.Duration // the first SIGTERM, after the server started
	second      bool          // whether a second SIGTERM follows
	secondAfter time.Duration // how long after the first
	slow        int           // slow clients
}

// newPlan draws a drain's plan from its seed, with the first signal
// within the given time of the start.
func newPlan(seed uint64, within time.Duration) plan {
	r := rand.New(rand.NewPCG(seed, planStream))
	p := plan{seed: seed}
	window := within
	if r.IntN(earlyOneIn) == 0 {
		window = min(earlyWindow, within)
	}
	p.signalAt = randDuration(r, 0, window)
	p.second = r.IntN(secondOneIn) == 0
	p.secondAfter = randDuration(r, 0, secondWithin)
	p.slow = 1 + r.IntN(maxSlow)
	return p
}

// drainSeeds returns the source of the drains' seeds of a soak with the
// given seed.
func drainSeeds(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seedStream)) }

// slowLengths returns the lengths slow client i asks for, one per call.
func (p plan) slowLengths(i int) func() time.Duration {
	r := rand.New(rand.NewPCG(p.seed, slowStream+uint64(i)))
	return func() time.Duration { return randDuration(r, slowMin, slowMax) }
}

func (p plan) String() string {
	s := fmt.Sprintf("SIGTERM at %s", fmtMillis(p.signalAt))
	if p.second {
		s += fmt.Sprintf(", a second %s later", fmtMillis(p.secondAfter))
	}
	return s + fmt.Sprintf(", %d slow clients", p.slow)
}

// randDuration returns a duration in [lo, hi], at microsecond resolution.
func randDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	span := int64((hi - lo) / time.Microsecond)
	return lo + time.Duration(r.Int64N(span+1))*time.Microsecond
}
