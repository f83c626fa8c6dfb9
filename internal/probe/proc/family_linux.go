package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// newFamily describes the family of the server process pid, which has
// mark in its environment.
func newFamily(pid int, mark string) family {
	f := family{leader: pid, mark: mark}
	if st, ok := readStat(strconv.Itoa(pid)); ok {
		f.born = st.start
	}
	return f
}

// A procStat is what the probe reads of a process in /proc/[pid]/stat.
type procStat struct {
	pid, ppid, pgrp, session int
	start                    uint64 // clock ticks after boot
	zombie                   bool
}

// readStat reads /proc/[pid]/stat:
//
//	pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime ...
//
// comm may hold spaces and parentheses, so the fields are counted from the
// last ')'.
func readStat(pid string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, state
	if len(f) < 20 {
		return procStat{}, false
	}
	st := procStat{zombie: f[0] == "Z" || f[0] == "X"}
	var errs [5]error
	st.pid, errs[0] = strconv.Atoi(pid)
	st.ppid, errs[1] = strconv.Atoi(f[1])
	st.pgrp, errs[2] = strconv.Atoi(f[2])
	st.session, errs[3] = strconv.Atoi(f[3])
	st.start, errs[4] = strconv.ParseUint(f[19], 10, 64)
	return st, errors.Join(errs[:]...) == nil
}

// members returns the processes of the family, zombies included, the
// leader excepted: those started no earlier than the leader that are in
// its process group, have the mark in their environment or are in known,
// and their descendants. With orphans, the probe's orphans in a session of
// their own count too: a daemon of the server's that left the group and
// rewrote its environment (nginx writes its process title over it),
// reparented to the probe, a child subreaper ([BecomeSubreaper]); the
// probe's own children, which os/exec started, are in its session.
func (f family) members(known map[int]bool, orphans bool) []procStat {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self, _ := readStat(strconv.Itoa(os.Getpid()))
	orphan := func(st procStat) bool {
		return orphans && !st.zombie && st.ppid == self.pid && st.session != self.session
	}
	var procs []procStat
	children := map[int][]int{}
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		st, ok := readStat(d.Name())
		if !ok || st.start < f.born || st.pid == f.leader {
			continue // gone, or older than the server: not its doing
		}
		procs = append(procs, st)
		children[st.ppid] = append(children[st.ppid], len(procs)-1)
	}
	in := make([]bool, len(procs))
	var todo []int
	add := func(i int) {
		if !in[i] {
			in[i] = true
			todo = append(todo, i)
		}
	}
	for i, st := range procs {
		if st.pgrp == f.leader || known[st.pid] || orphan(st) || (!st.zombie && f.marked(st.pid)) {
			add(i)
		}
	}
	for _, i := range children[f.leader] { // while the leader lives
		add(i)
	}
	var ms []procStat
	for len(todo) > 0 {
		i := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		ms = append(ms, procs[i])
		for _, c := range children[procs[i].pid] {
			add(c)
		}
	}
	return ms
}

// marked reports whether process pid has the family's mark in its
// environment.
func (f family) marked(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false // gone, or another user's
	}
	entry := "\x00" + f.mark + "\x00"
	return strings.Contains("\x00"+string(b)+"\x00", entry)
}

// alive returns the members that have not exited, the probe's orphans
// among them: a daemon that left no mark, not yet serving, is waited for.
func (f family) alive() []int {
	var pids []int
	for _, m := range f.members(nil, true) {
		if !m.zombie {
			pids = append(pids, m.pid)
		}
	}
	return pids
}

// sweepRounds bounds the rounds of a sweep. Each round kills every member
// it finds, so only those forked during a round survive it.
const sweepRounds = 10

// sweep kills every member of the family (SIGKILL), waits until each has
// exited, and reaps those that are the probe's children: orphans
// reparented to it as a child subreaper ([BecomeSubreaper]); the others
// are reaped by their own reaper, init. It never waits for any process
// but those, so it cannot take the exit status of a child os/exec waits
// for. Known holds the members found by earlier sweeps, since a dead
// process's mark dies with it; sweep adds those it finds.
func (f family) sweep(known map[int]bool) {
	self := os.Getpid()
	for range sweepRounds {
		var kill, reap []int
		for _, m := range f.members(known, false) {
			known[m.pid] = true // its mark goes with it when it dies
			if m.ppid == self {
				reap = append(reap, m.pid)
			}
			if !m.zombie {
				kill = append(kill, m.pid)
			}
		}
		if len(kill) == 0 && len(reap) == 0 {
			return
		}
		for _, pid := range kill {
			unix.Kill(pid, unix.SIGKILL)
		}
		for _, pid := range reap {
			// A member the probe adopted is its child: nobody else can
			// reap it, so its pid cannot be reused meanwhile.
			for {
				_, err := unix.Wait4(pid, nil, 0, nil)
				if err != unix.EINTR {
					break
				}
			}
		}
		for _, pid := range kill {
			awaitExit(pid, time.Second)
		}
	}
}

// awaitExit waits until process pid has exited, or for at most timeout.
// A pidfd becomes readable when its process exits, reaped or not.
func awaitExit(pid int, timeout time.Duration) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone, or reaped: ESRCH
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		_, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if !errors.Is(err, syscall.EINTR) || time.Now().After(deadline) {
			return
		}
	}
}
