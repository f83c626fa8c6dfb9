package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc: USER_HZ, 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// pfKthread marks kernel threads in the flags of /proc/PID/stat. Their CPU
// time is left out: during these runs it is mostly the kernel carrying the
// bench's own loopback traffic and freeing its sockets.
const pfKthread = 0x00200000

// A cpuSample is a reading of the CPU time of every other user process on
// the machine, to tell how much of it they took while the bench ran: on a
// 2-core machine another program's load shows up directly in the timings.
type cpuSample struct {
	at    time.Time
	procs map[int]time.Duration // pid: own CPU time plus that of its reaped children
	steal time.Duration         // time the hypervisor gave to other machines
	ok    bool
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), procs: map[int]time.Duration{}}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return s
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil || st.ppid == self || st.flags&pfKthread != 0 {
			continue // gone, a server under test, or a kernel thread
		}
		s.procs[pid] = st.cpu
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		// cpu user nice system idle iowait irq softirq steal ...
		if f := strings.Fields(string(line)); len(f) > 8 && f[0] == "cpu" {
			n, _ := strconv.ParseInt(f[8], 10, 64)
			s.steal = time.Duration(n) * clockTick
		}
	}
	s.ok = true
	return s
}

// procStat is what the bench needs from /proc/PID/stat.
type procStat struct {
	ppid  int
	flags uint64
	cpu   time.Duration // utime + stime + cutime + cstime
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, state
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	num := func(field int) int64 { n, _ := strconv.ParseInt(f[field-3], 10, 64); return n }
	return procStat{
		ppid:  int(num(4)),
		flags: uint64(num(9)),
		cpu:   time.Duration(num(14)+num(15)+num(16)+num(17)) * clockTick,
	}, nil
}

// quietCheck measures the CPU other processes use for half a second.
func quietCheck(ctx context.Context) interference {
	s := sampleCPU()
	t := time.NewTimer(500 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return since(s)
}

// waitQuiet waits until other processes use little CPU over half a
// second, for at most limit or until ctx ends. It reports whether the
// machine became quiet. There is no event for that: it samples.
func waitQuiet(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil {
		if !quietCheck(ctx).noisy() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
	return false
}

// interference is the CPU other processes used between two samples.
type interference struct {
	other, steal time.Duration
	wall         time.Duration
	ok           bool
}

// since measures the interference from sample a until now. A process that
// started and ended in between is counted through its parent's reaped
// children, when the parent is still there.
func since(a cpuSample) interference {
	b := sampleCPU()
	if !a.ok || !b.ok {
		return interference{}
	}
	var other time.Duration
	for pid, cpu := range b.procs {
		other += max(0, cpu-a.procs[pid])
	}
	return interference{other: other, steal: b.steal - a.steal, wall: b.at.Sub(a.at), ok: true}
}

// share returns the CPU others used, as a share of one CPU.
func (i interference) share() float64 {
	if !i.ok || i.wall <= 0 {
		return 0
	}
	return float64(i.other+i.steal) / float64(i.wall)
}

// noisy reports whether other processes used enough CPU to skew timings.
func (i interference) noisy() bool { return i.share() > noiseShare }

// noiseShare is the share of one CPU that other processes may use before a
// run is flagged.
const noiseShare = 0.10

func (i interference) String() string {
	if !i.ok {
		return "unknown"
	}
	s := fmt.Sprintf("%.0f%% of one CPU", 100*i.share())
	if i.steal > 0 {
		s += fmt.Sprintf(" (%v of it stolen by the hypervisor)", i.steal.Round(time.Millisecond))
	}
	return s
}
