package probe

import (
	"sync"
	"time"
)

// lagTick is the period of the keep-up monitor.
const lagTick = 10 * time.Millisecond

// lagBins are the monitor's histogram bins: lagBin wide, up to 100 ms,
// then one for all longer lags.
const (
	lagBin  = 100 * time.Microsecond
	lagBins = 1000
)

// A monitor measures the probe's own scheduling lag while the load runs:
// a timer that should fire every 10 ms, and how late its goroutine runs
// each time. A probe starved of CPU fires late, and its timings are late
// by as much.
type monitor struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Written by run, read after done is closed.
	hist [lagBins + 1]int
	n    int
	max  time.Duration
}

// startMonitor starts a monitor. Its end method must be called.
func startMonitor() *monitor {
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{})}
	go m.run() // owned: end waits for done
	return m
}

func (m *monitor) run() {
	defer close(m.done)
	next := time.Now().Add(lagTick)
	t := time.NewTimer(lagTick)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		m.record(now.Sub(next))
		next = next.Add(lagTick)
		if !next.After(now) { // more than a tick late: count it once
			next = now.Add(lagTick)
		}
		t.Reset(next.Sub(now))
	}
}

func (m *monitor) record(lag time.Duration) {
	lag = max(lag, 0)
	m.n++
	m.max = max(m.max, lag)
	m.hist[min(int(lag/lagBin), lagBins)]++
}

// end stops the monitor and returns the 99th percentile of the lag (to
// the upper bound of its bin) and its maximum. It may be called more
// than once.
func (m *monitor) end() (p99, maxLag time.Duration) {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	return m.percentile(0.99), m.max
}

func (m *monitor) percentile(q float64) time.Duration {
	if m.n == 0 {
		return 0
	}
	want := int(q*float64(m.n) + 0.5)
	seen := 0
	for i, c := range m.hist {
		seen += c
		if seen >= want && c > 0 {
			if i == lagBins {
				return m.max
			}
			return min(time.Duration(i+1)*lagBin, m.max)
		}
	}
	return m.max
}
