package proc

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Exit describes how a process ended.
type Exit struct {
	// At is when waiting for the process returned.
	At time.Time
	// Code is the exit code, or -1 if a signal ended the process.
	Code int
	// Signal is the signal that ended the process, if one did.
	Signal os.Signal
	// Killed reports that the probe sent SIGKILL: the grace period after
	// the signal expired, or the run was cut short.
	Killed bool
	// Err is the error waiting for the process returned, if it was not
	// about the exit status.
	Err error
	// Unknown reports that how the process ended is unknown: it was not
	// the probe's child (probe's Config.PID), so only its exit was seen. Code is
	// then -1 and Signal nil.
	Unknown bool
}

// ShellCode returns the exit status as a shell reports it: the exit code,
// or 128 plus the number of the signal that ended the process; -1 if it
// is unknown.
func (e Exit) ShellCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok && e.Code < 0 {
		return 128 + int(s)
	}
	return e.Code
}

// String describes the exit: "0", "1", "143 (SIGTERM)" or
// "137 (killed by the probe)"; "exited" or "exited (killed by the probe)"
// if the code is unknown.
func (e Exit) String() string {
	switch {
	case e.Unknown && e.Killed:
		return "exited (killed by the probe)"
	case e.Unknown:
		return "exited"
	case e.Killed && e.Signal != nil:
		return fmt.Sprintf("%d (killed by the probe)", e.ShellCode())
	case e.Signal != nil:
		return fmt.Sprintf("%d (%s)", e.ShellCode(), SignalName(e.Signal))
	}
	return strconv.Itoa(e.Code)
}

// An ending is how a Server or a Watched process passes on its exit:
// done is closed once the exit is known, and the first kill is noted so
// that the exit says whether the probe killed it.
type ending struct {
	done     chan struct{} // closed by exited
	e        Exit          // set before done is closed
	killed   chan struct{} // closed by the first kill
	killOnce sync.Once
}

func newEnding() ending {
	return ending{done: make(chan struct{}), killed: make(chan struct{})}
}

// exited records the exit, Killed if kill was called, and closes done.
// It must be called once.
func (n *ending) exited(e Exit) {
	select {
	case <-n.killed:
		e.Killed = true
	default:
	}
	n.e = e
	close(n.done)
}

// kill notes that the process is killed and calls send, the first time
// only; later calls return nil.
func (n *ending) kill(send func() error) error {
	var err error
	n.killOnce.Do(func() {
		close(n.killed)
		err = send()
	})
	return err
}

// exit waits for the exit and returns it.
func (n *ending) exit() Exit {
	<-n.done
	return n.e
}
