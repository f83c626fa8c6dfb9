//go:build unix

package drain

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const upgradesSupported = true

// sigHUP is the upgrade signal by default.
var sigHUP os.Signal = syscall.SIGHUP

// inheritFile returns the inherited descriptor fd as a file, marked
// close-on-exec, or nil if it is not open.
func inheritFile(fd int, name string) *os.File {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return nil
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}

// dupFile returns a copy of the descriptor under sc, for passing on. The
// copy comes from os.NewFile, whose Fd (which os/exec calls) leaves it
// non-blocking: the Fd of the *os.File that a net.Listener's File method
// returns makes it blocking, and with it the listener, which shares its
// flags, so that the server's Accept would block a thread and its Close
// would wait for a connection to arrive.
func dupFile(sc syscall.Conn, name string) (*os.File, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) {
		syscall.ForkLock.RLock()
		nfd, derr = syscall.Dup(int(fd))
		if derr == nil {
			syscall.CloseOnExec(nfd)
		}
		syscall.ForkLock.RUnlock()
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// socketPair returns one end of a Unix socket pair of type typ
// (SOCK_STREAM, SOCK_DGRAM) as a connection, and the other as a file for a
// new process to inherit; both are close-on-exec.
func socketPair(typ int, name string) (net.Conn, *os.File, error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), name)
	defer ours.Close()
	c, err := net.FileConn(ours)
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), name), nil
}

// A parentLink is a new process's connection to the process that started
// it at an upgrade. Once ready it says "ready"; the old process answers
// "go" (it leaves the new one the sockets) or "abort" (it called the
// upgrade off: the new one must stop), so that exactly one of them decides
// who serves. The end of the connection before an answer means the old
// process is gone: the new one takes over. The new process holds its end
// until it exits, so that the old one sees its exit as the end of the
// connection.
type parentLink struct {
	conn   net.Conn
	pid    int
	goc    chan struct{} // closed when the parent says go, or is gone
	abort  chan struct{} // closed when the parent calls the upgrade off
	done   chan struct{} // closed when the reading goroutine ends
	listen sync.Once
}

func newParentLink(f *os.File, pid int) (*parentLink, error) {
	if f == nil {
		return nil, errors.New("the connection to the previous process is not open")
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("the connection to the previous process: %w", err)
	}
	return &parentLink{conn: c, pid: pid, goc: make(chan struct{}), abort: make(chan struct{}), done: make(chan struct{})}, nil
}

// start reads what the parent says until the connection ends.
func (p *parentLink) start() {
	p.listen.Do(func() {
		go func() { // owned: close waits for done
			defer close(p.done)
			sc := bufio.NewScanner(p.conn)
			for sc.Scan() {
				switch sc.Text() {
				case "go":
					close(p.goc)
					return
				case "abort":
					close(p.abort)
					return
				}
			}
			close(p.goc) // the parent is gone
		}()
	})
}

// ready tells the parent that this process is ready; its answer comes on
// goc or abort.
func (p *parentLink) ready() error {
	p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := p.conn.Write([]byte("ready " + strconv.Itoa(os.Getpid()) + "\n"))
	return err
}

// close ends the connection and waits for the reading goroutine.
func (p *parentLink) close() {
	p.conn.Close()
	p.listen.Do(func() { close(p.done) }) // never started
	<-p.done
}

// upgrade starts the new process and waits for it to be ready (see
// newProc.wait). It sends on decided, as soon as it is known, whether the
// new process takes over (nil) or not; if not, it stops it and returns why
// and how it ended. It returns the new process's PID, if it started.
func (u *Upgrader) upgrade(timeout, stopWait time.Duration, stop, kill <-chan struct{}, decided chan<- error) (pid int, err error) {
	c, err := u.start()
	if err != nil {
		decided <- err
		return 0, err
	}
	pid = c.cmd.Process.Pid // Release, once it takes over, forgets it
	why, exited := c.wait(timeout, stop)
	decided <- why
	if why == nil {
		return pid, nil
	}
	ended := c.stopChild(stopWait, kill)
	if exited {
		return pid, fmt.Errorf("%w (%s)", why, ended)
	}
	return pid, fmt.Errorf("%w; asked to stop, %s", why, ended)
}

// A newProc is a new process started by an upgrade, until it is ready.
type newProc struct {
	cmd  *exec.Cmd
	conn net.Conn
	said chan string // its first line, or "" when the connection ended first
}

// start starts the new process with every socket inherited, and a
// connection to it.
func (u *Upgrader) start() (*newProc, error) {
	cmd, err := u.command()
	if err != nil {
		return nil, err
	}
	if cmd.WaitDelay == 0 {
		// Wait, once the process is killed, must not wait on for the
		// copying of its output to a Stdout or Stderr that is not a file,
		// whose pipe a process it started may hold open.
		cmd.WaitDelay = closeWait
	}
	files, names, shared, err := u.files(false)
	if err != nil {
		return nil, err
	}
	defer closeAll(files)
	conn, theirs, err := socketPair(syscall.SOCK_STREAM, "drain-upgrade")
	if err != nil {
		return nil, err
	}
	defer theirs.Close()

	cmd.ExtraFiles = append(files, theirs)
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(upgradeEnv(env),
		envUpgrade+"="+strconv.Itoa(os.Getpid())+",3",
		envFDNames+"="+strings.Join(names, ":"),
		envFDShared+"="+strings.Join(shared, ":"))
	if standIn := u.standInFile(); standIn != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, standIn)
		cmd.Env = append(cmd.Env, envStandIn+"=1")
	}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, err
	}
	c := &newProc{cmd: cmd, conn: conn, said: make(chan string, 1)}
	go func() { // owned by wait, which closes conn and receives from said
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			line = ""
		}
		c.said <- line
	}()
	return c, nil
}

// upgradeEnv is the environment of a new process without what describes
// this one only: the previous upgrade's, systemd's socket activation, and
// the watchdog's PID (the new process pings once it is the main process).
func upgradeEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case envUpgrade, envFDNames, envFDShared, envStandIn, "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (u *Upgrader) command() (*exec.Cmd, error) {
	if u.Command != nil {
		cmd, err := u.Command()
		if err != nil {
			return nil, err
		}
		if cmd == nil {
			return nil, errors.New("the Upgrader's Command returned no command")
		}
		if len(cmd.ExtraFiles) > 0 {
			return nil, errors.New("the command has ExtraFiles: the Upgrader passes the sockets there")
		}
		return cmd, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd, nil
}

// wait waits for the new process to be ready, and tells it to take over
// ("go"), unless stop is closed first (the old process shuts down). It
// returns why it does not take over, if it does not: it exited (exited is
// then true), it was not ready within timeout, or the shutdown began.
func (c *newProc) wait(timeout time.Duration, stop <-chan struct{}) (why error, exited bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line := <-c.said:
		c.said <- "" // for stopChild, should it come to that
		if !strings.HasPrefix(line, "ready ") {
			// The connection ended: the process exited, or closed it.
			return errors.New("the new process exited before it was ready"), true
		}
		select {
		case <-stop:
			return errors.New("the shutdown began as the new process became ready"), false
		default:
		}
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.conn.Write([]byte("go\n")); err != nil {
			return fmt.Errorf("the new process could not be told to take over: %w", err), false
		}
		c.conn.Close()
		c.cmd.Process.Release() // it lives on, and outlives this process
		return nil, false
	case <-timer.C:
		return fmt.Errorf("the new process was not ready within %v", timeout), false
	case <-stop:
		return errors.New("the shutdown began before the new process was ready"), false
	}
}

// stopChild asks the new process to stop, waits for its exit, killing it
// after stopWait or once kill is closed, and says how it ended.
func (c *newProc) stopChild(stopWait time.Duration, kill <-chan struct{}) string {
	c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.conn.Write([]byte("abort\n"))
	exited := make(chan struct{})
	go func() { c.cmd.Wait(); close(exited) }() // ends: the process is killed below if need be
	t := time.NewTimer(stopWait)
	defer t.Stop()
	var ended string
	select {
	case <-exited:
		ended = "it ended: " + c.cmd.ProcessState.String()
	case <-t.C:
		c.cmd.Process.Kill()
		<-exited
		ended = fmt.Sprintf("it was still running %v later: killed", stopWait)
	case <-kill:
		c.cmd.Process.Kill()
		<-exited
		ended = "it was still running when this process's shutdown ended: killed"
	}
	c.conn.Close()
	<-c.said
	return ended
}
