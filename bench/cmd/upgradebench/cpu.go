//go:build linux

package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of the CPU times in /proc/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// A cpuSample reads the CPU time the machine spent (user, nice, system,
// steal: interrupts left out, as the kernel's loopback traffic lands
// there) and the part of it the bench and its reaped children used. Read
// once every server process is reaped, their difference is what other
// processes took: on 2 cores, another program's load starves the clients
// or the server, and a starved client looks idle to a server.
type cpuSample struct {
	at             time.Time
	machine, bench time.Duration
	ok             bool
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	// cpu user nice system idle iowait irq softirq steal ...
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	for _, i := range []int{1, 2, 3, 8} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		s.machine += time.Duration(n) * clockTick
	}
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) != nil {
			return s
		}
		s.bench += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	s.ok = true
	return s
}

// othersShare returns the CPU that other processes used from a to b, as a
// share of one CPU; -1 if unknown.
func othersShare(a, b cpuSample) float64 {
	wall := b.at.Sub(a.at)
	if !a.ok || !b.ok || wall <= 0 {
		return -1
	}
	other := (b.machine - a.machine) - (b.bench - a.bench)
	return max(0, float64(other)/float64(wall))
}
