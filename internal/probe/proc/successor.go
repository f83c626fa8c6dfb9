package proc

import (
	"os"
	"sync"
	"time"
)

// A Successor is a process that an upgrade started: not the probe's
// child, but its child once its parent has exited if the probe is a child
// subreaper. Its exit is seen through a pidfd; how it ended is learnt by
// reaping it once it is the probe's child (see reapExit), and is unknown
// if it never becomes one.
type Successor struct {
	pid   int
	limit time.Duration // how long to wait to become its parent, once it exits
	w     *Watched
	end   ending        // done once how it ended is known, or given up
	stop  chan struct{} // closed by close
	wg    sync.WaitGroup
	once  sync.Once
}

// Follow starts watching process pid. Once it has exited, it waits
// up to limit to become its parent (until its own parent, draining,
// exits too) and reap it. Its close method must be called.
func Follow(pid int, limit time.Duration) (*Successor, error) {
	w, err := Watch(pid)
	if err != nil {
		return nil, err
	}
	s := &Successor{pid: pid, limit: limit, w: w, end: newEnding(), stop: make(chan struct{})}
	s.wg.Go(s.wait) // owned: close waits
	return s, nil
}

func (s *Successor) wait() {
	select {
	case <-s.w.Done():
	case <-s.stop:
		s.end.exited(Exit{Code: -1, Unknown: true})
		return
	}
	e := reapExit(s.pid, s.limit, s.stop)
	e.At = s.w.Exit().At
	s.end.exited(e)
}

func (s *Successor) PID() int                   { return s.pid }
func (s *Successor) Signal(sig os.Signal) error { return s.w.Signal(sig) }

// Kill sends SIGKILL, noting it in the exit.
func (s *Successor) Kill() error {
	return s.end.kill(func() error { return s.w.Kill() })
}

// Done is closed once the process has exited.
func (s *Successor) Done() <-chan struct{} { return s.w.Done() }

// Exit says how the process ended, once done is closed: it waits until
// the probe has reaped it, or given up (see newSuccessor).
func (s *Successor) Exit() Exit { return s.end.exit() }

// Close stops watching the process; it does not kill it. It may be called
// more than once.
func (s *Successor) Close() error {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.w.Close()
	})
	return nil
}
