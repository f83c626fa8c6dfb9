//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drain-go/drain/internal/probe"
	"golang.org/x/sys/unix"
)

// A family is the server's processes: the first, started by the bench in
// a process group of its own, and each generation an upgrade starts,
// which stays in that group. The bench is a child subreaper, so that each
// generation becomes its child once its parent has exited, and is reaped
// by it.
type family struct {
	pgid int

	mu     sync.Mutex
	pids   []int        // every generation seen, in order
	exited map[int]exit // those reaped
}

// An exit is how a process ended.
type exit struct {
	at     time.Time
	code   int            // -1 if a signal ended it
	signal syscall.Signal // 0 if it exited
}

func (e exit) String() string {
	if e.signal != 0 {
		return "killed by " + signalName(e.signal)
	}
	return "exit " + strconv.Itoa(e.code)
}

// signalName names sig as people know it: "SIGTERM" rather than Go's
// "terminated".
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(sig))
}

// start makes the bench a child subreaper and starts args with its output
// going to out. The kernel kills the first process if the bench dies.
func start(args []string, out *os.File) (*family, error) {
	if err := probe.BecomeSubreaper(); err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	// The bench reaps its processes with wait4 itself, this one too: no
	// cmd.Wait. With *os.File outputs exec started no goroutine to wait
	// for.
	pid := cmd.Process.Pid
	return &family{pgid: pid, pids: []int{pid}, exited: map[int]exit{}}, nil
}

// add records a new generation.
func (f *family) add(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pids = append(f.pids, pid)
}

// reaped reports whether pid exited, reaping it if it is a child of the
// bench that has. ok is false while pid is not (yet) a child, or runs.
func (f *family) reaped(pid int) (e exit, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.exited[pid]; ok {
		return e, true, nil
	}
	var ws syscall.WaitStatus
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ECHILD):
			return exit{}, false, nil // its parent has not exited yet
		case err != nil:
			return exit{}, false, fmt.Errorf("wait4 %d: %w", pid, err)
		case got != pid:
			return exit{}, false, nil // running
		}
		break
	}
	e = exit{at: time.Now(), code: ws.ExitStatus()}
	if ws.Signaled() {
		e.code, e.signal = -1, ws.Signal()
	}
	f.exited[pid] = e
	return e, true, nil
}

// wait waits up to timeout for pid to exit and be reaped by the bench,
// which it can only once pid's parent has exited.
func (f *family) wait(ctx context.Context, pid int, timeout time.Duration) (exit, error) {
	deadline := time.Now().Add(timeout)
	for {
		e, ok, err := f.reaped(pid)
		if ok || err != nil {
			return e, err
		}
		if time.Now().After(deadline) {
			return exit{}, fmt.Errorf("process %d had not exited (or its parent had not) %v later", pid, timeout)
		}
		if ctx.Err() != nil {
			return exit{}, ctx.Err()
		}
		pause(ctx, 5*time.Millisecond)
	}
}

// kill kills the group, and the generations that are not in it any more,
// then reaps every one of them it can within a second.
func (f *family) kill() {
	f.mu.Lock()
	pids := append([]int(nil), f.pids...)
	f.mu.Unlock()
	syscall.Kill(-f.pgid, syscall.SIGKILL)
	for _, pid := range pids {
		if _, ok, _ := f.reaped(pid); !ok {
			// Not reaped, hence its pid not recycled.
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if _, ok, _ := f.reaped(pid); ok {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// readPID reads the PID that path names; 0 if it names none (yet).
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0 // not there, or being written
	}
	return pid
}

// waitPID waits up to timeout for the PID file to name a process other
// than old. watch, if not 0, is a process whose exit ends the wait.
func (f *family) waitPID(ctx context.Context, path string, old, watch int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if pid := readPID(path); pid != 0 && pid != old {
			return pid, nil
		}
		if watch != 0 {
			if e, ok, _ := f.reaped(watch); ok {
				return 0, fmt.Errorf("process %d: %v before %s named a new process", watch, e, path)
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s named no new process within %v", path, timeout)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		pause(ctx, 2*time.Millisecond)
	}
}
