package drain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drain-go/drain/systemd"
)

// ErrUpgrade reports an upgrade that did not happen: the new process could
// not start, exited, or was not ready in time, and was stopped; or, in the
// new process, the old one called the upgrade off. The old process serves on.
var ErrUpgrade = errors.New("drain: upgrade failed")

// DefaultReadyTimeout is how long an upgrade waits for the new process to
// be ready, by default. See [Upgrader.ReadyTimeout].
const DefaultReadyTimeout = time.Minute

// An Upgrader replaces the running process by a new one, started from the
// executable installed at the same path, without closing its listening
// sockets: a zero-downtime restart on one machine, under systemd or any
// supervisor, where a rolling update across machines is not available.
//
// Listening sockets come from Listen: inherited from the previous process,
// or from systemd (socket activation, or its file descriptor store), or
// opened anew. Set the Upgrader as the Group's, and serve on them:
//
//	up := &drain.Upgrader{PIDFile: "/run/app.pid"}
//	ln, err := up.Listen("web", "tcp", ":8080")
//	if err != nil { ... }
//	var g drain.Group
//	g.Upgrader = up
//	g.Add(&drain.HTTP{Server: srv, Listener: ln})
//	os.Exit(drain.ExitCode(g.Run(context.Background())))
//
// On Signal (SIGHUP by default), or a call to Upgrade, the process starts
// the new one with every listening socket inherited: the same sockets,
// nothing closed and reopened, so that no connection is refused. The new
// process serves at once, and reports ready once its Group is serving and
// its readiness checks (see [Group.Health]) pass. Only then does the old
// one shut down: it leaves the sockets and what waits in their accept
// queues to the new process (see [HandOffer]), drains its connections as
// in any shutdown (busy keep-alive clients are told to close, every
// request in flight is answered), runs its cleanup functions and Run
// returns nil. A new process that exits, or is not ready within
// ReadyTimeout, is told to stop (it drains what it accepted and exits)
// and, if it does not, killed: the old process serves on as if nothing
// happened, logs why, and can be upgraded again. The new process can be
// upgraded in turn as soon as it is ready, while its predecessor still
// drains.
//
// Under systemd (NOTIFY_SOCKET set: Type=notify or notify-reload), the
// Group reports its state whether or not it has an Upgrader: READY=1 once
// ready, STOPPING=1 with a STATUS line and EXTEND_TIMEOUT_USEC (the drain's
// own bound) when a shutdown begins, WATCHDOG=1 at half the interval
// systemd asks for. An upgrade reports RELOADING=1, then the new process's
// PID as MAINPID and READY=1. docs/restarts.md has unit files and the
// reasons behind them.
//
// Upgrades need a Unix system; elsewhere Listen works and Run refuses an
// Upgrader.
type Upgrader struct {
	// Signal starts an upgrade. Defaults to SIGHUP (systemd's reload
	// signal). It must not be one of the Group's shutdown signals.
	Signal os.Signal

	// Command returns the command that starts the new process. Its
	// ExtraFiles must be empty: the Upgrader passes the sockets there. The
	// process it starts must be the new one, or exec it (a shell's exec),
	// not fork it: the new process checks that its parent is this one.
	// Defaults to this process's executable, at the path it was started
	// from (where the new binary is installed), with the same arguments,
	// environment, working directory, standard output and error.
	Command func() (*exec.Cmd, error)

	// ReadyTimeout bounds the wait for the new process to be ready.
	// Defaults to [DefaultReadyTimeout].
	ReadyTimeout time.Duration

	// PIDFile, if set, names a file that holds the PID of the process
	// that serves, for supervisors that signal a PID they read from a file
	// (an upgrade changes the PID). The process writes it once ready, the
	// new one replaces it at an upgrade, and it is removed when the
	// service stops, if it still holds this process's PID.
	PIDFile string

	// FDStore keeps the listening sockets in systemd's file descriptor
	// store (the unit needs FileDescriptorStoreMax=), so that they stay
	// open across a plain restart: connections made while no process
	// runs wait in the accept queue for the next one, which inherits the
	// sockets through Listen, instead of being refused. Every shutdown
	// then leaves the sockets to the next process, as an upgrade does.
	FDStore bool

	// Foreground keeps the process that the supervisor started for as
	// long as the service runs, for supervisors that watch that process
	// and take its exit for the end of the service (runit, s6,
	// daemontools, supervisord, a container's init): after an upgrade it
	// drains as usual, then stands in for the generations that follow,
	// passing them the Group's shutdown signals and the upgrade signal it
	// receives, and its Run returns once the last of them has exited: nil
	// if the one serving last exited 0, else an error that says how it
	// ended. Linux only: the process adopts the generations as a child
	// subreaper, once its first upgrade has succeeded, and reaps them (and
	// any orphan below it) once its own drain and cleanup are over. Under
	// systemd it is not needed.
	Foreground bool

	mu       sync.Mutex
	inited   bool
	initErr  error
	warnings []string  // found while reading the environment, logged by Run
	sockets  []*socket // inherited (claimed or not), then opened by Listen
	parent   *parentLink
	// standIn reaches the process that stands in for the service (see
	// Foreground): each generation says there that it serves. Inherited
	// by a process started by an upgrade; nil in the process that stands
	// in, and without Foreground.
	standIn *os.File
	stand   *standIn // this process stands in, once it has upgraded
	// handedOff is set when the shutdown begins after an upgrade (or, in
	// a new process, when the old one called the upgrade off): every
	// socket is left to the other process. tookOver is set when this
	// process, started by an upgrade, has taken over from the previous
	// one.
	handedOff, tookOver bool
	requests            chan<- upgradeRequest // to the group's Run, while it serves
	serving             <-chan struct{}       // closed when that Run's shutdown begins
}

// A socket is a listening socket of the process.
type socket struct {
	name      string
	file      *os.File     // an inherited socket not claimed by Listen (yet)
	ln        net.Listener // handed out by Listen
	inherited string       // from whom: fromPreviousProcess or "systemd"
	shared    bool         // systemd holds it too: it outlives the process
}

// Listen returns the listening socket named name: the one of that name
// that the previous process passed on at an upgrade, or that systemd
// passed (FileDescriptorName= in the socket unit, or a socket kept in its
// file descriptor store), or else a new one listening on address. A TCP
// socket is a plain one, not Multipath TCP, so that a shutdown can keep new
// connections out (see [HTTP.Listener]). An inherited socket must listen
// on address, if address is not empty: a changed address is an error, not
// a silent change of port.
//
// Names are what an upgrade passes the sockets on by: one per socket,
// printable ASCII without ':' (systemd's rule for names), at most 255
// bytes. A socket that systemd passes without a FileDescriptorName= is
// named "unknown". Listen may be called before Run, and while it serves.
func (u *Upgrader) Listen(name, network, address string) (net.Listener, error) {
	if err := checkSocketName(name); err != nil {
		return nil, fmt.Errorf("drain: Listen: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.initLocked()
	if u.initErr != nil {
		return nil, u.initErr
	}
	for _, s := range u.sockets {
		if s.name != name {
			continue
		}
		if s.ln != nil {
			return nil, fmt.Errorf("drain: Listen: a socket named %q is already in use", name)
		}
		ln, err := net.FileListener(s.file)
		if err != nil {
			return nil, fmt.Errorf("drain: socket %q inherited from %s: %w", name, s.inherited, err)
		}
		if address != "" && !sameAddress(network, address, ln.Addr()) {
			ln.Close()
			return nil, fmt.Errorf("drain: socket %q inherited from %s listens on %v, not %s", name, s.inherited, ln.Addr(), address)
		}
		s.file.Close()
		s.file, s.ln = nil, &upgradeListener{ln, u, s}
		return s.ln, nil
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), network, address)
	if err != nil {
		return nil, fmt.Errorf("drain: Listen: %w", err)
	}
	s := &socket{name: name}
	s.ln = &upgradeListener{ln, u, s}
	u.sockets = append(u.sockets, s)
	return s.ln, nil
}

// An upgradeListener is a listener that Listen returned. It tells the
// drain whether its socket outlives the process (see leftToOthers), so
// that HTTP and Listener stop it by leaving it to the next process.
type upgradeListener struct {
	net.Listener
	u *Upgrader
	s *socket
}

// Unwrap returns the listener it wraps, a *net.TCPListener or
// *net.UnixListener.
func (l *upgradeListener) Unwrap() net.Listener { return l.Listener }

func (l *upgradeListener) leftToOthers() bool {
	l.u.mu.Lock()
	defer l.u.mu.Unlock()
	// Until this process has taken over, the previous one serves on the
	// sockets it passed: a shutdown now (the upgrade called off, a server
	// failed) must leave them to it as they are.
	fromPrevious := l.s.inherited == fromPreviousProcess && !l.u.tookOver
	return l.u.handedOff || l.u.FDStore || l.s.shared || fromPrevious
}

// checkSocketName applies systemd's rule for file descriptor names.
func checkSocketName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("socket name %q: must have 1 to 255 characters", name)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("socket name %q: only printable ASCII without spaces or ':'", name)
		}
	}
	return nil
}

// sameAddress reports whether a listening socket at got listens where
// network and address ask for: the same port, and the same IP or Unix
// path. An unspecified IP ("", 0.0.0.0, ::) matches any unspecified one.
func sameAddress(network, address string, got net.Addr) bool {
	switch got := got.(type) {
	case *net.TCPAddr:
		want, err := net.ResolveTCPAddr(network, address)
		if err != nil || (want.Port != 0 && want.Port != got.Port) {
			return false // port 0: whichever the system chose, then
		}
		if want.IP == nil || want.IP.IsUnspecified() {
			return got.IP == nil || got.IP.IsUnspecified()
		}
		return want.IP.Equal(got.IP)
	case *net.UnixAddr:
		return got.Name == address
	}
	return got.String() == address
}

// Environment of a process started by an upgrade: the parent's PID and the
// first of the inherited descriptors; their names, in order; the control
// connection is the descriptor after them.
const (
	envUpgrade  = "DRAIN_UPGRADE"
	envFDNames  = "DRAIN_FDNAMES"
	envFDShared = "DRAIN_FDSHARED" // the names of those systemd holds too
	envStandIn  = "DRAIN_STANDIN"  // set if the descriptor after the control connection reaches the stand-in
)

// fromPreviousProcess is where a socket passed at an upgrade comes from.
const fromPreviousProcess = "the previous process"

// initLocked reads, once, the sockets the process inherited.
func (u *Upgrader) initLocked() {
	if u.inited {
		return
	}
	u.inited = true
	if err := u.inheritFromParent(); err != nil {
		u.initErr = fmt.Errorf("drain: sockets inherited at an upgrade: %w", err)
		return
	}
	files, err := systemd.ListenFiles()
	if err != nil {
		u.initErr = fmt.Errorf("drain: sockets passed by systemd: %w", err)
		return
	}
	for n, f := range files {
		name := f.Name()
		i := slices.IndexFunc(u.sockets, func(s *socket) bool { return s.name == name })
		switch {
		case i < 0:
			u.sockets = append(u.sockets, &socket{name: name, file: f, inherited: "systemd", shared: true})
		case u.sockets[i].inherited == fromPreviousProcess:
			// Passed by the previous process and kept in systemd's store
			// too: the same socket.
			f.Close()
		default:
			closeAll(files[n:])
			u.initErr = fmt.Errorf("drain: systemd passed more than one socket named %q: give each its own FileDescriptorName=", name)
			return
		}
	}
}

// inheritFromParent takes the sockets and the control connection that the
// previous process passed, if this process was started by an upgrade.
func (u *Upgrader) inheritFromParent() error {
	v, ok := os.LookupEnv(envUpgrade)
	if !ok {
		return nil
	}
	names := os.Getenv(envFDNames)
	shared := strings.Split(os.Getenv(envFDShared), ":")
	_, standIn := os.LookupEnv(envStandIn)
	os.Unsetenv(envUpgrade)
	os.Unsetenv(envFDNames)
	os.Unsetenv(envFDShared)
	os.Unsetenv(envStandIn)
	ppid, first, ok := strings.Cut(v, ",")
	pid, err1 := strconv.Atoi(ppid)
	fd, err2 := strconv.Atoi(first)
	if !ok || err1 != nil || err2 != nil || fd < 3 {
		return fmt.Errorf("malformed %s=%q", envUpgrade, v)
	}
	if pid != os.Getppid() {
		// Set for another process, an ancestor: what it describes is not ours.
		u.warnings = append(u.warnings, fmt.Sprintf("%s names process %d, not this process's parent: ignored", envUpgrade, pid))
		return nil
	}
	var list []string
	if names != "" {
		list = strings.Split(names, ":")
	}
	for i, name := range list {
		if err := checkSocketName(name); err != nil {
			return err
		}
		f := inheritFile(fd+i, name)
		if f == nil {
			return fmt.Errorf("descriptor %d (%s) is not open", fd+i, name)
		}
		u.sockets = append(u.sockets, &socket{name: name, file: f, inherited: fromPreviousProcess, shared: slices.Contains(shared, name)})
	}
	link, err := newParentLink(inheritFile(fd+len(list), "drain-upgrade"), pid)
	if err != nil {
		return err
	}
	u.parent = link
	if standIn {
		if u.standIn = inheritFile(fd+len(list)+1, "drain-standin"); u.standIn == nil {
			return errors.New("the connection to the process that stands in for the service is not open")
		}
	}
	return nil
}

// standInFile returns what a new process inherits to reach the process
// that stands in for the service, if any (see Foreground).
func (u *Upgrader) standInFile() *os.File {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stand != nil {
		return u.stand.peer
	}
	return u.standIn
}

// files returns a copy of every listening socket, for a new process, or,
// with unstored, of those systemd does not hold yet, for its store; with
// their names, and the names of those systemd holds. The caller closes
// them.
func (u *Upgrader) files(unstored bool) (files []*os.File, names, shared []string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.sockets {
		if unstored && s.shared {
			continue
		}
		var f *os.File
		switch {
		case s.file != nil:
			f, err = dupFile(s.file, s.name)
		case s.ln != nil:
			if sc := listenerSocket(s.ln); sc != nil {
				f, err = dupFile(sc, s.name)
			} else {
				err = fmt.Errorf("a %T cannot be passed on", s.ln)
			}
		default:
			continue
		}
		if err != nil {
			closeAll(files)
			return nil, nil, nil, fmt.Errorf("socket %q: %w", s.name, err)
		}
		files = append(files, f)
		names = append(names, s.name)
		if s.shared {
			shared = append(shared, s.name)
		}
	}
	return files, names, shared, nil
}

// owns reports whether ln came from Listen, or wraps a listener that did.
func (u *Upgrader) owns(ln net.Listener) bool {
	ul := upgradeListenerOf(ln)
	return ul != nil && ul.u == u
}

// markStored records that systemd now holds a copy of the socket named
// name, in its file descriptor store.
func (u *Upgrader) markStored(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.sockets {
		if s.name == name {
			s.shared = true
		}
	}
}

// release closes the inherited sockets that Listen never claimed, once
// the process stops serving: nothing will pass them on any more.
func (u *Upgrader) release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.sockets {
		if s.file != nil {
			s.file.Close()
			s.file = nil
		}
	}
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// writePIDFile replaces the PID file with one that holds pid, atomically,
// so that a supervisor never reads a half-written one.
func writePIDFile(path string, pid int) error {
	tmp := path + ".tmp" + strconv.Itoa(pid)
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// removePIDFile removes the PID file if it holds pid: a new process may
// have replaced it already.
func removePIDFile(path string, pid int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		return nil
	}
	return os.Remove(path)
}
