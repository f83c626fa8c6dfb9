package proc

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"
)

// A DaemonError reports that the server command daemonized: its process
// exited before the signal, as a daemon's parent does once it has started
// the daemon, while a process it started serves on its port. The probe
// cannot signal that server through the command, nor tell how it ends,
// and it kills it as it kills everything the command started. Run such a
// server in the foreground (most have a flag for it), or start it yourself
// and give its address and process as probe's Config.Target and Config.PID.
//
// It wraps [ErrExited].
type DaemonError struct {
	// Exit is how the command's process ended.
	Exit Exit
	// PID is the daemon's: the process that listens on the port; 0 where
	// it cannot be found out (outside Linux).
	PID int
	// Addr is where the daemon served, as host:port.
	Addr string
	// Output is the end of the command's output, as Server.Output
	// returns it.
	Output string
}

func (e *DaemonError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("probe: server daemonized: its command exited (exit %v) before the signal, but a process serves on %s", e.Exit, e.Addr)
	}
	return fmt.Sprintf("probe: server daemonized: its command exited (exit %v) before the signal, but process %d, which it started, serves on %s (killed by the probe)", e.Exit, e.PID, e.Addr)
}

func (e *DaemonError) Unwrap() error { return ErrExited }

// ExitedEarly returns the error for a process that exited before the
// signal, once Done is closed: a *DaemonError if it left a process of its
// own serving on its port, else one wrapping ErrExited. The output is not
// in it: see Output.
func (p *Server) ExitedEarly() error {
	<-p.Done()
	if de := p.daemon(); de != nil {
		return de
	}
	return fmt.Errorf("%w before the signal: exit %v", ErrExited, p.Exit())
}

// daemon returns a *DaemonError if the process has exited and a process of
// its family listens on its port; nil if nothing accepts a connection
// there, or another program does.
func (p *Server) daemon() *DaemonError {
	nc, err := net.DialTimeout("tcp", p.addr, attemptTimeout)
	if err != nil {
		return nil
	}
	nc.Close()
	de := &DaemonError{Exit: p.Exit(), Addr: p.addr, Output: p.Output()}
	pids, err := listeners(p.port)
	if err != nil {
		// Nothing tells whose it is; the port was free a moment before the
		// command started, so most likely its daemon's.
		return de
	}
	// Alive are the family's members and, as a subreaper's orphans, the
	// daemons that left the group and rewrote their environment (nginx
	// writes its process title over it), taking the mark with it: they
	// are adopted, for Close to kill.
	alive := p.fam.alive()
	for _, pid := range pids { // ascending: a daemon's workers come after it
		if slices.Contains(alive, pid) {
			p.adopt(pid)
			de.PID = pid
			return de
		}
	}
	return nil
}

// adopt makes pid a member of the family, for Close to kill with what it
// started.
func (p *Server) adopt(pid int) {
	p.adoptMu.Lock()
	defer p.adoptMu.Unlock()
	p.adopted = append(p.adopted, pid)
}

// awaitDaemon is what Start does when the process exits before it serves:
// a daemon's parent exits 0 as soon as it has started the daemon, which
// may not listen yet. While the process exited 0 and its family lives, it
// waits for the family to serve, until deadline: it returns a
// *DaemonError if it does; errGone if there is no such family, or another
// program serves; else an error wrapping ErrExited, or ctx's.
func (p *Server) awaitDaemon(ctx context.Context, ready Readiness, deadline time.Time) error {
	for {
		if de := p.daemon(); de != nil {
			return de
		}
		if p.Exit().Code != 0 {
			return ErrGone
		}
		pids := p.fam.alive()
		// A daemon found by its mark alone (it left the group) cannot be
		// seen while it execs: its environment is unreadable for that
		// moment, and nothing signals its end. Look a few more times.
		for range 10 {
			if len(pids) > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
			pids = p.fam.alive()
		}
		if len(pids) == 0 {
			return ErrGone
		}
		ready.timeout = time.Until(deadline)
		if ready.timeout <= 0 {
			return fmt.Errorf("%w before serving on port %d: exit 0, leaving processes %v running, which did not serve in time either", ErrExited, p.port, pids)
		}
		gone, stop := allExited(pids)
		err := ready.Wait(ctx, gone)
		stop()
		switch {
		case err == nil:
			if de := p.daemon(); de != nil {
				return de
			}
			return ErrGone
		case ctx.Err() != nil:
			return err
		}
		// Gone, but they may have started others; or not served by the
		// deadline: look again.
	}
}

// allExited returns a channel that is closed once every process of pids
// has exited, and a function that stops watching them, which must be
// called.
func allExited(pids []int) (<-chan struct{}, func()) {
	var ws []*Watched
	for _, pid := range pids {
		if w, err := Watch(pid); err == nil {
			ws = append(ws, w)
		}
	}
	done := make(chan struct{})
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() { // owned: the stop function waits for it
		defer close(stopped)
		for _, w := range ws {
			select {
			case <-w.Done():
			case <-stop:
				return
			}
		}
		close(done)
	}()
	return done, func() {
		close(stop)
		<-stopped
		for _, w := range ws {
			w.Close()
		}
	}
}
