//go:build unix

package main

import (
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	const within = 1500 * time.Millisecond
	const n = 5000
	seeds := drainSeeds(42)
	early, second := 0, 0
	for range n {
		s := seeds.Uint64()
		p := newPlan(s, within)
		if q := newPlan(s, within); q != p {
			t.Fatalf("seed %#x: plans differ: %+v, %+v", s, p, q)
		}
		if p.signalAt < 0 || p.signalAt > within {
			t.Errorf("seed %#x: signal at %v, want within %v", s, p.signalAt, within)
		}
		if p.secondAfter < 0 || p.secondAfter > secondWithin {
			t.Errorf("seed %#x: second signal after %v, want within %v", s, p.secondAfter, secondWithin)
		}
		if p.slow < 1 || p.slow > maxSlow {
			t.Errorf("seed %#x: %d slow clients", s, p.slow)
		}
		if p.signalAt < earlyWindow {
			early++
		}
		if p.second {
			second++
		}
	}
	// 1 in earlyOneIn on purpose, and earlyWindow/within of the others.
	wantEarly := n/earlyOneIn + n*(earlyOneIn-1)/earlyOneIn*int(earlyWindow)/int(within)
	if early < wantEarly*8/10 || early > wantEarly*12/10 {
		t.Errorf("%d of %d first signals within %v, want about %d", early, n, earlyWindow, wantEarly)
	}
	if want := n / secondOneIn; second < want*8/10 || second > want*12/10 {
		t.Errorf("%d of %d drains with a second signal, want about %d", second, n, want)
	}
}

func TestPlanShortWithin(t *testing.T) {
	for s := range uint64(200) {
		if p := newPlan(s, 10*time.Millisecond); p.signalAt > 10*time.Millisecond {
			t.Fatalf("seed %d: signal at %v, want within 10ms", s, p.signalAt)
		}
	}
}

func TestSlowLengths(t *testing.T) {
	p := newPlan(7, time.Second)
	a, b, other := p.slowLengths(0), p.slowLengths(0), p.slowLengths(1)
	same := 0
	for range 100 {
		x, y, z := a(), b(), other()
		if x != y {
			t.Fatalf("slow client 0's lengths differ between two draws of one plan: %v, %v", x, y)
		}
		for _, d := range []time.Duration{x, z} {
			if d < slowMin || d > slowMax {
				t.Fatalf("slow length %v, want within [%v, %v]", d, slowMin, slowMax)
			}
		}
		if x == z {
			same++
		}
	}
	if same > 10 {
		t.Errorf("slow clients 0 and 1 drew the same length %d times in 100", same)
	}
}

func TestJobs(t *testing.T) {
	a, b := &target{server: server{name: "a"}}, &target{server: server{name: "b"}}
	cfg := &soakConfig{targets: []*target{a, b}, drains: 3, seed: 1, signalWithin: time.Second}
	jobs := cfg.jobs()
	if len(jobs) != 6 {
		t.Fatalf("%d jobs, want 6", len(jobs))
	}
	for i, j := range jobs {
		if wantT, wantN := []*target{a, b}[i%2], i/2+1; j.target != wantT || j.n != wantN {
			t.Errorf("job %d: %s #%d, want %s #%d (interleaved)", i, j.target, j.n, wantT, wantN)
		}
	}
	if again := cfg.jobs(); again[5].plan != jobs[5].plan {
		t.Error("the same seed gave other plans")
	}
	cfg.replay, cfg.drainSeed = true, 0xabc
	for _, j := range cfg.jobs() {
		if j.plan != newPlan(0xabc, time.Second) {
			t.Errorf("replay: %s #%d has plan %+v", j.target, j.n, j.plan)
		}
	}
}
