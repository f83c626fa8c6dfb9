package drain

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

const standInSupported = true

// A standIn is the process a supervisor started, standing in for the
// generations that follow it once it has upgraded (see
// [Upgrader.Foreground]): it adopts them as a child subreaper, passes
// them the signals it gets, and ends when the last of them has exited.
type standIn struct {
	conn *net.UnixConn // each generation says "serving PID" here once it serves
	peer *os.File      // the other end, passed to each new process
}

func newStandIn() (*standIn, error) {
	c, peer, err := socketPair(syscall.SOCK_DGRAM, "drain-standin")
	if err != nil {
		return nil, err
	}
	return &standIn{conn: c.(*net.UnixConn), peer: peer}, nil
}

func (st *standIn) close() {
	st.conn.Close()
	st.peer.Close()
}

// run stands in for the service, whose serving process is pid: it passes
// the signals sigs to the process serving, and, once reap is closed (this
// process's own drain and cleanup are over: children it started itself
// have been waited for), reaps every process below it until none is left.
// It returns nil if the process serving last exited 0.
func (st *standIn) run(pid int, sigs []os.Signal, reap <-chan struct{}, log *slog.Logger) error {
	defer st.close()
	// Orphans are adopted from now on: the generation after pid, once pid
	// exits, and so on.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		log.Error("drain: cannot adopt the generations after this process", "err", errno)
	}
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, append(sigs, syscall.SIGCHLD)...)
	defer signal.Stop(sigc)
	serving := make(chan int)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() { // owned: run closes quit and conn, and waits for done
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, err := st.conn.Read(buf)
			if err != nil {
				return
			}
			p, err := strconv.Atoi(strings.TrimPrefix(string(buf[:n]), "serving "))
			if err != nil {
				continue
			}
			select {
			case serving <- p:
			case <-quit:
				return
			}
		}
	}()
	defer func() { close(quit); st.conn.Close(); <-done }()

	log.Info("drain: standing in for the service: passing signals to the process serving until every one has exited", "serving_pid", pid)
	var status syscall.WaitStatus
	seen := false
	for {
		for reap == nil {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if errors.Is(err, syscall.ECHILD) {
				return exitResult(pid, status, seen)
			}
			if err != nil && !errors.Is(err, syscall.EINTR) {
				return fmt.Errorf("drain: standing in: %w", err)
			}
			if got <= 0 {
				break
			}
			if got == pid {
				status, seen = ws, true
			}
		}
		select {
		case <-reap:
			reap = nil
		case sig := <-sigc:
			if sig == syscall.SIGCHLD {
				continue
			}
			log.Info("drain: passing a signal to the process serving", "signal", sig.String(), "serving_pid", pid)
			syscall.Kill(pid, sig.(syscall.Signal))
		case p := <-serving:
			pid = p
		}
	}
}

const prSetChildSubreaper = 36

// exitResult is what the stand-in's Run returns: nil if the process that
// served last exited 0.
func exitResult(pid int, ws syscall.WaitStatus, seen bool) error {
	switch {
	case !seen:
		return fmt.Errorf("drain: the process serving (%d) ended unseen", pid)
	case ws.Signaled():
		return fmt.Errorf("drain: the process serving (%d) was killed by %v", pid, ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Errorf("drain: the process serving (%d) exited %d", pid, ws.ExitStatus())
	}
	return nil
}
