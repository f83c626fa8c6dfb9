package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultListenTimeout is how long Start waits for the server to accept a
// connection. See [Command.ListenTimeout].
const DefaultListenTimeout = 10 * time.Second

// longAgo is a deadline in the past: setting it makes blocked reads
// return at once.
var longAgo = time.Unix(1, 0)

// portPlaceholder is replaced by the server's port in [Command.Args].
const portPlaceholder = "{port}"

var (
	// ErrExited reports that the server process exited when the probe
	// needed it running: before it listened, or before the signal.
	ErrExited = errors.New("probe: server exited")

	// ErrNotListening reports that the server did not accept a connection
	// within [Command.ListenTimeout].
	ErrNotListening = errors.New("probe: server not listening")

	// errNotReady reports that the server did not answer GET
	// [Command.ReadyPath] with a 2xx status within
	// [Command.ListenTimeout].
	errNotReady = errors.New("probe: server not ready")
)

// A Command describes how to start the server under test.
type Command struct {
	// Args is the program and its arguments. Every "{port}" in them is
	// replaced by the port the server must listen on. Required. The
	// program should be the server itself, not a wrapper such as a shell
	// or "go run", which may not pass the signal on.
	Args []string

	// Env is added to the probe's own environment, after PORT, which is
	// set to the port the server must listen on. DRAINPROBE_SERVER is set
	// too, last, to a value of the probe's: it marks the processes the
	// server starts, so that Server.Close can find and kill them.
	Env []string

	// Dir is the working directory. Defaults to the probe's.
	Dir string

	// Output receives the server's stdout and stderr. Defaults to
	// discarding them; the last few kilobytes are kept either way for
	// error messages (see Server.Output).
	Output io.Writer

	// ReadyPath, if set, is where the server tells that it is ready: the
	// probe waits until GET ReadyPath is answered with a 2xx status,
	// instead of only until the port accepts a TCP connection.
	ReadyPath string

	// ListenTimeout bounds the wait for the server to be ready: to accept
	// a TCP connection on its port, or to answer GET ReadyPath with a 2xx
	// status. Defaults to [DefaultListenTimeout].
	ListenTimeout time.Duration
}

// Readiness returns the check that the server at addr, with host in the
// Host header, is ready: see [Command.ReadyPath].
func (c Command) Readiness(addr, host string) Readiness {
	timeout := c.ListenTimeout
	if timeout <= 0 {
		timeout = DefaultListenTimeout
	}
	return Readiness{addr: addr, host: host, path: c.ReadyPath, timeout: timeout}
}

// A Server is a running server started by Start. Its methods may be
// called from any goroutine. Close must be called once it is no longer
// needed; after Close the process is dead and reaped.
type Server struct {
	cmd    *exec.Cmd
	exited *Watched // the exit as a pidfd sees it; nil where none can
	addr   string
	port   int
	out    *tail
	fam    family // what it started

	adoptMu sync.Mutex
	adopted []int // orphans found serving its port: its daemons (see daemon)

	end       ending      // done once the process has exited and been reaped
	stopWatch func() bool // stops killing the process when ctx ends
	swept     sync.Once   // its family killed, by Close

	// With Start's sharedOutput: the output's pipe, and a channel closed
	// once it has been read to its end.
	outPipe *os.File
	outDone chan struct{}
}

// Start starts the server described by c on a free loopback port and
// waits until it is ready: until it accepts a TCP connection or, with
// [Command.ReadyPath], answers it with a 2xx status. If it cannot, it
// kills and reaps the process and returns an error wrapping [ErrExited],
// [ErrNotListening], errNotReady or ctx's error; a [*DaemonError] if
// the process exited but left one it started serving on the port. If ctx
// ends while the process runs, the process is killed.
//
// The port is found by listening on 127.0.0.1:0 and closing the listener,
// so another program could take it in between; the server then fails to
// listen, or the probe reaches the wrong server. On a machine that runs
// only the probe this does not happen.
//
// With sharedOutput the server gets a pipe of the probe's own for its
// output, which the processes it starts share and the probe reads until
// they have all closed it: in an upgrade run the first process exits
// while its successors, which inherited its output, still write.
// (os/exec closes its pipes WaitDelay after the process it started
// exits, and a Go server writing to a closed pipe dies of SIGPIPE.)
func Start(ctx context.Context, c Command, sharedOutput bool) (*Server, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("probe: no server command")
	}
	if c.ListenTimeout < 0 {
		return nil, fmt.Errorf("probe: negative ListenTimeout %v", c.ListenTimeout)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("probe: find a free port: %w", err)
	}
	ps := strconv.Itoa(port)
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.ReplaceAll(a, portPlaceholder, ps)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = c.Dir
	mark := newMark()
	cmd.Env = append(append(append(os.Environ(), "PORT="+ps), c.Env...), mark)
	out := &tail{w: c.Output}
	cmd.Stdout = out
	cmd.Stderr = out
	// The output is copied by goroutines that end when every holder of the
	// pipe has closed it; a grandchild that keeps it must not hold Wait.
	cmd.WaitDelay = time.Second
	var outR, outW *os.File
	if sharedOutput {
		if outR, outW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("probe: start server: %w", err)
		}
		cmd.Stdout, cmd.Stderr = outW, outW
	}
	inGroup(cmd)
	err = cmd.Start()
	if outW != nil {
		outW.Close() // the server's now
	}
	if err != nil {
		if outR != nil {
			outR.Close()
		}
		return nil, fmt.Errorf("probe: start server: %w", err)
	}
	// Wait returns once the output pipes are closed too; the exit itself
	// is seen sooner where a pidfd can watch it.
	exited, _ := Watch(cmd.Process.Pid)
	p := &Server{
		cmd:    cmd,
		exited: exited,
		addr:   net.JoinHostPort("127.0.0.1", ps),
		port:   port,
		out:    out,
		fam:    newFamily(cmd.Process.Pid, mark),
		end:    newEnding(),
	}
	if outR != nil {
		p.outPipe, p.outDone = outR, make(chan struct{})
		go func() { // owned: Close waits for outDone
			io.Copy(out, outR)
			close(p.outDone)
		}()
	}
	go p.wait() // owned: Close waits for done
	p.stopWatch = context.AfterFunc(ctx, func() { p.Kill() })

	ready := c.Readiness(p.addr, p.addr)
	deadline := time.Now().Add(ready.timeout)
	err = ready.Wait(ctx, p.Done())
	if errors.Is(err, ErrGone) && ctx.Err() == nil {
		err = p.awaitDaemon(ctx, ready, deadline)
	}
	if err != nil {
		p.Close()
		var de *DaemonError
		switch {
		case ctx.Err() != nil:
			// The kill on ctx's end may be seen as the exit first.
			return nil, fmt.Errorf("probe: start server: %w", context.Cause(ctx))
		case errors.As(err, &de):
			return nil, de // the output is in it
		case errors.Is(err, ErrGone):
			return nil, fmt.Errorf("%w before serving on port %d: exit %v%s", ErrExited, p.port, p.Exit(), p.outputSuffix())
		}
		return nil, p.WithOutput(err)
	}
	return p, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// wait reaps the process and records how it ended.
func (p *Server) wait() {
	err := p.cmd.Wait()
	e := Exit{At: time.Now(), Code: -1}
	if p.exited != nil {
		select {
		case <-p.exited.Done():
			if at := p.exited.Exit().At; at.Before(e.At) {
				e.At = at
			}
		default:
		}
		p.exited.Close()
	}
	if ps := p.cmd.ProcessState; ps != nil {
		e.Code = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.Err = err
	}
	p.end.exited(e)
}

// Addr returns the loopback Addr the server listens on, as host:port.
func (p *Server) Addr() string { return p.addr }

// Args returns the server's program and arguments, "{port}" replaced.
func (p *Server) Args() []string { return slices.Clone(p.cmd.Args) }

// PID returns the process id.
func (p *Server) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process. It returns an error wrapping
// [ErrExited] if the process has already exited: a [*DaemonError] if it
// left a process it started serving on its port. It then waits until Done
// is closed, which is up to a second later if that process holds its
// output.
func (p *Server) Signal(sig os.Signal) error {
	if p.hasExited() {
		return p.ExitedEarly()
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return p.ExitedEarly()
		}
		return fmt.Errorf("probe: send %v: %w", sig, err)
	}
	return nil
}

// SignalGroup sends sig to the process group of the process: the process
// and every process it started that stayed in its group. It returns an
// error wrapping [ErrExited] if the process has already exited, as Signal
// does, even if others of its group still run.
func (p *Server) SignalGroup(sig os.Signal) error {
	if p.hasExited() {
		return p.ExitedEarly()
	}
	if err := signalGroup(p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("probe: send %v to process group %d: %w", SignalName(sig), p.cmd.Process.Pid, err)
	}
	return nil
}

// Kill sends SIGKILL to the process unless it has exited. [Exit.Killed]
// then reports it.
func (p *Server) Kill() error {
	return p.end.kill(func() error {
		err := p.cmd.Process.Kill()
		killGroup(p.cmd.Process.Pid)
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
	})
}

// Done returns a channel that is closed once the process has exited and
// been reaped.
func (p *Server) Done() <-chan struct{} { return p.end.done }

// hasExited reports whether the process has exited. Done may be closed up
// to a second later (see Start's WaitDelay); a pidfd, where there is one,
// tells at once.
func (p *Server) hasExited() bool {
	select {
	case <-p.Done():
		return true
	default:
	}
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited.Done():
		return true
	default:
		return false
	}
}

// Exit describes how the process ended. It may be called only after Done
// is closed.
func (p *Server) Exit() Exit { return p.end.exit() }

// Output returns the last few kilobytes the process wrote on its stdout
// and stderr.
func (p *Server) Output() string { return p.out.String() }

// FlushOutput waits up to d for the output to be read to its end, when
// the server has a shared pipe (see Start): until every
// process that holds it has exited.
func (p *Server) FlushOutput(d time.Duration) {
	if p.outDone == nil {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.outDone:
	case <-t.C:
	}
}

// WithOutput returns err with the end of the server's output, if any,
// appended to its message.
func (p *Server) WithOutput(err error) error {
	if s := strings.TrimSpace(p.Output()); s != "" {
		return fmt.Errorf("%w; its output ends with:\n%s", err, s)
	}
	return err
}

func (p *Server) outputSuffix() string {
	if s := strings.TrimSpace(p.Output()); s != "" {
		return "; its output ends with:\n" + s
	}
	return ""
}

// Close kills the process if it is still running, and what it started:
// its process group, and on Linux every process that carries its mark in
// its environment (DRAINPROBE_SERVER; a daemon that left the group does),
// with their descendants. It waits until the process has been reaped and
// the others have exited, and reaps those that are the probe's children
// (see [BecomeSubreaper]). It may be called more than once, and returns
// nil.
func (p *Server) Close() error {
	p.stopWatch()
	select {
	case <-p.Done():
	default:
		p.Kill()
	}
	killGroup(p.cmd.Process.Pid)
	p.swept.Do(func() {
		known := map[int]bool{}
		p.adoptMu.Lock()
		for _, pid := range p.adopted {
			known[pid] = true
		}
		p.adoptMu.Unlock()
		// Before waiting for Done, which waits for the output, which what
		// it started may hold.
		p.fam.sweep(known)
		// Its children are reparented only once it has exited: to the
		// probe, if a subreaper, which must reap them.
		p.waitExit()
		p.fam.sweep(known)
		if p.outDone != nil {
			// Every holder of the pipe is dead, but one that escaped.
			p.FlushOutput(time.Second)
			p.outPipe.SetReadDeadline(longAgo)
			<-p.outDone
			p.outPipe.Close()
		}
	})
	<-p.Done()
	return nil
}

// waitExit waits until the process has exited: until Done is closed, or
// sooner where a pidfd tells.
func (p *Server) waitExit() {
	var exited <-chan struct{}
	if p.exited != nil {
		exited = p.exited.Done()
	}
	select {
	case <-p.Done():
	case <-exited:
	}
}
