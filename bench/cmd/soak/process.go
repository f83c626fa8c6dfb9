//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxOutput bounds the server output a drain keeps: drain logs a few
// kilobytes per shutdown; a panic or a race report is longer.
const maxOutput = 1 << 20

// A process is a server under test, running in a process group of its own
// so that it can be killed with anything it started, and killed by the
// kernel if the soak dies (on Linux).
//
// A goroutine waits for it from its start: whoever starts a process must
// receive from exited before forgetting it, killing it first if need be.
type process struct {
	cmd     *exec.Cmd
	started time.Time
	output  *boundedBuffer // its stdout and stderr; read it once exited is closed

	exited chan struct{} // closed once it has exited and its output is read
	exitAt time.Time     // when it was reaped; set before exited is closed
	status exitStatus    // set before exited is closed
}

// startProcess starts args with PORT=port added to the environment.
func startProcess(args []string, port int) (*process, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	out := &boundedBuffer{max: maxOutput}
	// The same writer twice: exec then copies both through one pipe, with
	// one goroutine, and Wait waits for it.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithSoak(cmd.SysProcAttr)
	// A server that left a child holding its output does not hold Wait.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("soak: start %s: %w", args[0], err)
	}
	p := &process{cmd: cmd, started: time.Now(), output: out, exited: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *process) wait() {
	err := p.cmd.Wait()
	p.exitAt = time.Now()
	p.status = statusOf(p.cmd.ProcessState, err)
	close(p.exited)
}

// signal sends sig to the process (not its group: the signal is the
// server's to pass on) and returns when, and whether it was delivered. It
// is not once the process has been reaped: os.Process signals through a
// pidfd, so a recycled pid is never hit.
func (p *process) signal(sig os.Signal) (time.Time, bool) {
	at := time.Now()
	return at, p.cmd.Process.Signal(sig) == nil
}

// kill sends SIGKILL to the process's group, unless the process has
// exited.
func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	// The process is alive or not yet reaped, so its pid, which is its
	// group's id, has not been recycled.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// An exitStatus is how a process ended.
type exitStatus struct {
	code   int            // the exit code; -1 if a signal ended the process or waiting failed
	signal syscall.Signal // the signal that ended the process; 0 if it exited
	err    error          // why waiting failed, if it did
}

func statusOf(st *os.ProcessState, err error) exitStatus {
	if st == nil {
		return exitStatus{code: -1, err: err}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitStatus{code: -1, signal: ws.Signal()}
	}
	e := exitStatus{code: st.ExitCode()}
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		e.err = err // the exit is known, but the output may be cut short
	}
	return e
}

// bySignal reports whether a signal ended the process.
func (e exitStatus) bySignal() bool { return e.signal != 0 }

// String describes the exit: "exit 0", "exit 1", "killed by SIGTERM".
func (e exitStatus) String() string {
	switch {
	case e.bySignal():
		return "killed by " + signalName(e.signal)
	case e.code < 0:
		return fmt.Sprintf("unknown exit (%v)", e.err)
	}
	return "exit " + strconv.Itoa(e.code)
}

// signalName names sig as people know it: "SIGTERM" rather than Go's
// "terminated".
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d (%v)", int(sig), sig)
}

// A boundedBuffer keeps the first max bytes written to it and counts the
// rest. It is not safe for concurrent use: exec writes to it from one
// goroutine, and it is read once Wait has returned.
type boundedBuffer struct {
	max     int
	buf     []byte
	dropped int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	n := min(len(p), b.max-len(b.buf))
	b.buf = append(b.buf, p[:n]...)
	b.dropped += len(p) - n
	return len(p), nil
}

// Bytes returns what was kept, with a note of what was not.
func (b *boundedBuffer) Bytes() []byte {
	if b.dropped == 0 {
		return b.buf
	}
	return fmt.Appendf(slices.Clip(b.buf), "\n[soak: %d more bytes of output not kept]\n", b.dropped)
}
