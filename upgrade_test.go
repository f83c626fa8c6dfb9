//go:build linux

package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The upgrade tests run the test binary again as a server with an
// Upgrader, whose generations replace one another on SIGHUP. What a
// generation does at start (serve, exit at once, never become ready) is
// read from a file the test rewrites, as an operator installs a new binary.
const upgradeDirEnv = "DRAIN_TEST_UPGRADE"

func init() {
	if dir := os.Getenv(upgradeDirEnv); dir != "" {
		os.Exit(runUpgradeServer(dir))
	}
}

func runUpgradeServer(dir string) int {
	pid := os.Getpid()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", pid)
	mode, _ := os.ReadFile(filepath.Join(dir, "mode"))
	if string(mode) == "exit" {
		log.Error("a broken binary: exiting at start")
		return 3
	}
	up := &Upgrader{PIDFile: filepath.Join(dir, "pid"), ReadyTimeout: 2 * time.Second, Foreground: os.Getenv("DRAIN_TEST_FOREGROUND") != ""}
	ln, err := up.Listen("web", "tcp", "127.0.0.1:0")
	if err != nil {
		log.Error("listen", "err", err)
		return 3
	}
	if err := os.WriteFile(filepath.Join(dir, "addr"), []byte(ln.Addr().String()), 0o644); err != nil {
		log.Error("addr", "err", err)
		return 3
	}
	g := &Group{Upgrader: up, Logger: log}
	if string(mode) == "unready" || string(mode) == "fails" {
		g.Health().AddCheck("never", func(context.Context) error { return errors.New("never ready") })
	}
	if string(mode) == "fails" {
		// A second server that fails before the group is ready (its port
		// taken, say): the group shuts down on its own.
		g.Add(failingServer{after: 200 * time.Millisecond})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, pid) })
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(4 * time.Second)
		fmt.Fprintln(w, pid)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		fmt.Fprintln(w, pid)
	})
	g.Add(&HTTP{Server: &http.Server{Handler: mux}, Listener: ln})
	return ExitCode(g.Run(context.Background()))
}

// An upgradeLoad keeps clients busy against a server: keep-alive clients
// sending requests back to back, and clients opening a connection per
// request. None retries: a refused connection or a request without an
// answer is counted.
type upgradeLoad struct {
	addr                 string
	stop                 chan struct{}
	wg                   sync.WaitGroup
	answered, reconnects atomic.Int64
	mu                   sync.Mutex
	failures             []string
}

func startUpgradeLoad(addr string, keepAlive, perRequest int) *upgradeLoad {
	l := &upgradeLoad{addr: addr, stop: make(chan struct{})}
	for i := range keepAlive + perRequest {
		l.wg.Add(1)
		go l.client(i < keepAlive)
	}
	return l
}

func (l *upgradeLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

func (l *upgradeLoad) client(keepAlive bool) {
	defer l.wg.Done()
	var rc *rawClient
	defer func() {
		if rc != nil {
			rc.Close()
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if rc == nil {
			var err error
			if rc, err = dialRaw(l.addr); err != nil {
				l.fail("refused: %v", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		resp, err := rc.do("GET", "/hello")
		if err == nil && resp.status != 200 {
			err = fmt.Errorf("status %d", resp.status)
		}
		if err != nil {
			l.fail("lost: %v", err)
			rc.Close()
			rc = nil
			continue
		}
		l.answered.Add(1)
		if resp.close || !keepAlive {
			l.reconnects.Add(1)
			rc.Close()
			rc = nil
		}
	}
}

func (l *upgradeLoad) end() []string {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

// A notifyReceiver plays systemd's side of NOTIFY_SOCKET, recording who
// sent what.
type notifyReceiver struct {
	conn *net.UnixConn
	done chan struct{}
	mu   sync.Mutex
	msgs []notifyMsg
}

type notifyMsg struct {
	pid   int
	vars  map[string]string
	files []*os.File // descriptors passed with it (FDSTORE=1)
}

func (m notifyMsg) String() string { return fmt.Sprintf("pid %d: %v", m.pid, m.vars) }

func newNotifyReceiver(t *testing.T, path string) *notifyReceiver {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := conn.SyscallConn()
	rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })
	r := &notifyReceiver{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			m := notifyMsg{vars: map[string]string{}}
			if scms, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, scm := range scms {
					if cred, err := syscall.ParseUnixCredentials(&scm); err == nil {
						m.pid = int(cred.Pid)
					}
					if fds, err := syscall.ParseUnixRights(&scm); err == nil {
						for _, fd := range fds {
							m.files = append(m.files, os.NewFile(uintptr(fd), "stored"))
						}
					}
				}
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					m.vars[k] = v
				}
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-r.done
		for _, m := range r.msgs {
			closeAll(m.files)
		}
	})
	return r
}

func (r *notifyReceiver) messages() []notifyMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notifyMsg(nil), r.msgs...)
}

// setSubreaper makes the test process adopt the processes orphaned below
// it, so that it can wait for every generation of the server, not only the
// first.
func setSubreaper(t *testing.T) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatalf("prctl: %v", errno)
	}
	t.Cleanup(func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0) })
}

// waitExit waits for the process pid, a descendant of the test, to exit,
// and returns its exit code (-1 if a signal ended it). It polls: the
// process becomes the test's child only once its parent has exited.
func waitExit(t *testing.T, pid int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid {
			return ws.ExitStatus()
		}
		if err != nil && !errors.Is(err, syscall.ECHILD) {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not exit within %v", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type upgradeServer struct {
	t   *testing.T
	dir string
	log *os.File
}

// newUpgradeServer prepares the directory of a server's generations, and
// makes the test their subreaper.
func newUpgradeServer(t *testing.T) *upgradeServer {
	setSubreaper(t)
	s := &upgradeServer{t: t, dir: t.TempDir()}
	s.setMode("ok")
	var err error
	if s.log, err = os.Create(filepath.Join(s.dir, "log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.log.Close() })
	return s
}

func (s *upgradeServer) setMode(mode string) {
	if err := os.WriteFile(filepath.Join(s.dir, "mode"), []byte(mode), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// pid returns the PID in the PID file, 0 if there is none.
func (s *upgradeServer) pid() int {
	b, _ := os.ReadFile(filepath.Join(s.dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (s *upgradeServer) logs() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}

// waitPID waits until the PID file names another process than old.
func (s *upgradeServer) waitPID(old int) int {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if pid := s.pid(); pid != 0 && pid != old {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("the PID file still names %d\n%s", old, s.logs())
	return 0
}

// waitLogCount waits until s appears n times in the servers' log.
func (s *upgradeServer) waitLogCount(what string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(s.logs(), what) < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%q not logged %d times\n%s", what, n, s.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *upgradeServer) hup(pid int) {
	s.t.Helper()
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		s.t.Fatalf("SIGHUP to %d: %v\n%s", pid, err, s.logs())
	}
}

// TestUpgrade upgrades a server three times, 2 s apart, under load from
// keep-alive clients and clients that open a connection per request, with
// slow requests in flight at each upgrade, and a long one that keeps the
// first process draining through the second; then tries three broken
// binaries: one that exits at start, one that never becomes ready, and one
// that fails on its own before it is ready. Nothing may be
// refused or lost, every old process must exit 0, and systemd must hear
// every step from the right process.
func TestUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 15 s")
	}
	s := newUpgradeServer(t)
	dir := s.dir
	notify := newNotifyReceiver(t, filepath.Join(dir, "notify"))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), upgradeDirEnv+"="+dir, "NOTIFY_SOCKET="+filepath.Join(dir, "notify"))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := cmd.Process.Pid
	pids := []int{first}
	firstExit := make(chan int, 1)
	go func() { cmd.Wait(); firstExit <- cmd.ProcessState.ExitCode() }()
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if got := s.waitPID(0); got != first {
		t.Fatalf("PID file names %d, want %d", got, first)
	}
	addrB, _ := os.ReadFile(filepath.Join(dir, "addr"))
	addr := string(addrB)

	load := startUpgradeLoad(addr, 16, 4)
	loadEnded := false
	defer func() {
		if !loadEnded {
			load.end()
		}
	}()
	exitOf := func(pid int) int {
		if pid == first {
			select {
			case code := <-firstExit:
				return code
			case <-time.After(30 * time.Second):
				t.Fatalf("process %d did not exit\n%s", pid, s.logs())
			}
		}
		return waitExit(t, pid, 30*time.Second)
	}

	// A long request at the first upgrade keeps the first process
	// draining through the second: an upgrade does not wait for the
	// generation before to be gone.
	var long <-chan error
	var secondUpgrade time.Time
	for i := range 3 {
		time.Sleep(2 * time.Second)
		old := pids[len(pids)-1]
		slow := getRaw(addr, "/slow", 3)
		if i == 0 {
			long = getRaw(addr, "/long", 1)
		}
		time.Sleep(200 * time.Millisecond) // the slow requests are in their handlers
		s.hup(old)
		pid := s.waitPID(old)
		pids = append(pids, pid)
		switch i {
		case 0:
			// A stop now (systemd signals every process of the service)
			// must not cut the old process's drain: it ignores signals.
			syscall.Kill(old, syscall.SIGTERM)
			syscall.Kill(old, syscall.SIGTERM)
		case 1:
			secondUpgrade = time.Now()
		}
		for range 3 {
			if err := <-slow; err != nil {
				t.Errorf("upgrade %d: slow request: %v", i+1, err)
			}
		}
		if i == 1 {
			if err := <-long; err != nil {
				t.Errorf("long request in flight at the first upgrade: %v", err)
			}
			if time.Now().Before(secondUpgrade) {
				t.Error("the long request ended before the second upgrade")
			}
		}
		if i > 0 {
			if code := exitOf(pids[i-1]); code != 0 {
				t.Errorf("upgrade %d: old process %d exited %d\n%s", i, pids[i-1], code, s.logs())
			}
		}
	}
	if code := exitOf(pids[2]); code != 0 {
		t.Errorf("upgrade 3: old process %d exited %d\n%s", pids[2], code, s.logs())
	}
	if !strings.Contains(s.logs(), "signal ignored") {
		t.Errorf("the old process did not say it ignored SIGTERM while it drained\n%s", s.logs())
	}
	current := pids[len(pids)-1]

	// Rollback: a binary that exits at start, then one that never gets ready.
	s.setMode("exit")
	s.hup(current)
	s.waitLogCount("upgrade failed; serving on", 1)
	s.setMode("unready")
	s.hup(current)
	s.waitLogCount("upgrade failed; serving on", 2)
	// One that fails on its own before it is ready: its shutdown must
	// leave the old process's socket as it was (accepting).
	s.setMode("fails")
	s.hup(current)
	s.waitLogCount("upgrade failed; serving on", 3)
	if pid := s.pid(); pid != current {
		t.Errorf("after the failed upgrades the PID file names %d, want %d", pid, current)
	}
	for _, line := range strings.Split(s.logs(), "\n") {
		if strings.Contains(line, "upgrade failed") || strings.Contains(line, "called the upgrade off") {
			t.Log(line)
		}
	}
	time.Sleep(500 * time.Millisecond) // the load goes on against the old process
	// It can still be upgraded.
	s.setMode("ok")
	s.hup(current)
	last := s.waitPID(current)
	pids = append(pids, last)
	if code := exitOf(current); code != 0 {
		t.Errorf("old process %d exited %d\n%s", current, code, s.logs())
	}

	failures := load.end()
	loadEnded = true
	if len(failures) > 0 {
		t.Errorf("%d requests refused or lost, of %d answered:\n%s", len(failures), load.answered.Load(), strings.Join(failures[:min(len(failures), 20)], "\n"))
	} else if load.answered.Load() < 1000 {
		t.Errorf("only %d requests answered", load.answered.Load())
	} else {
		t.Logf("%d requests answered, %d on new connections, 0 refused or lost; PIDs %v", load.answered.Load(), load.reconnects.Load(), pids)
	}

	syscall.Kill(last, syscall.SIGTERM)
	if code := waitExit(t, last, 30*time.Second); code != 0 {
		t.Errorf("last process exited %d\n%s", code, s.logs())
	}
	if _, err := os.Stat(filepath.Join(dir, "pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file left behind: %v", err)
	}
	checkUpgradeNotifications(t, notify.messages(), pids)
	if t.Failed() {
		t.Logf("servers' log:\n%s", s.logs())
	}
}

// checkUpgradeNotifications checks what systemd heard: each process says
// READY=1 with its PID once ready; each upgrade begins with RELOADING=1
// and MONOTONIC_USEC from the old process, which hands MAINPID over once
// the new process is ready; a failed upgrade ends with READY=1 from the old
// process; only the last process says STOPPING=1, with EXTEND_TIMEOUT_USEC.
func checkUpgradeNotifications(t *testing.T, msgs []notifyMsg, pids []int) {
	t.Helper()
	dump := func() string {
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintln(&b, m)
		}
		return b.String()
	}
	find := func(from int, pred func(notifyMsg) bool) int {
		for i := from; i < len(msgs); i++ {
			if pred(msgs[i]) {
				return i
			}
		}
		return -1
	}
	if len(msgs) == 0 || msgs[0].pid != pids[0] || msgs[0].vars["READY"] != "1" {
		t.Fatalf("the first notification is not READY=1 from %d:\n%s", pids[0], dump())
	}
	at := 0
	for i := 1; i < len(pids); i++ {
		old, pid := pids[i-1], pids[i]
		reload := find(at, func(m notifyMsg) bool { return m.pid == old && m.vars["RELOADING"] == "1" })
		if reload < 0 || msgs[reload].vars["MONOTONIC_USEC"] == "" {
			t.Fatalf("no RELOADING=1 with MONOTONIC_USEC from %d:\n%s", old, dump())
		}
		handover := find(reload, func(m notifyMsg) bool {
			return m.pid == old && m.vars["MAINPID"] == strconv.Itoa(pid) && m.vars["READY"] == "1"
		})
		own := find(reload, func(m notifyMsg) bool {
			return m.pid == pid && m.vars["MAINPID"] == strconv.Itoa(pid) && m.vars["READY"] == "1"
		})
		if handover < 0 || own < 0 {
			t.Fatalf("no MAINPID=%d READY=1 from both %d and %d:\n%s", pid, old, pid, dump())
		}
		at = max(handover, own)
	}
	for _, m := range msgs {
		if m.vars["STOPPING"] == "1" && m.pid != pids[len(pids)-1] {
			t.Errorf("STOPPING=1 from %d, which handed over:\n%s", m.pid, dump())
		}
	}
	stop := find(0, func(m notifyMsg) bool { return m.vars["STOPPING"] == "1" })
	if stop < 0 || msgs[stop].vars["EXTEND_TIMEOUT_USEC"] == "" {
		t.Errorf("no STOPPING=1 with EXTEND_TIMEOUT_USEC:\n%s", dump())
	}
	if failed := find(0, func(m notifyMsg) bool { return strings.Contains(m.vars["STATUS"], "upgrade failed") }); failed < 0 {
		t.Errorf("no STATUS of a failed upgrade:\n%s", dump())
	}
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// needProgram skips the test if a program is missing, unless in CI.
func needProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install %s); CI installs it", name, pkg)
		}
		t.Skipf("%s is missing (apt-get install %s)", name, pkg)
	}
	return path
}

// TestSocketActivation runs the server under systemd's own implementation
// of socket activation: it must serve on the socket systemd passed, by
// name, from the connection that woke it, and pass it on at an upgrade.
func TestSocketActivation(t *testing.T) {
	activate := needProgram(t, "systemd-socket-activate", "systemd")
	s := newUpgradeServer(t)
	dir := s.dir
	addr := freePort(t)
	cmd := exec.Command(activate, "-l", addr, "--fdname=web", "-E", upgradeDirEnv+"="+dir, os.Args[0], "-test.run=^$")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	exited := make(chan int, 1)
	go func() { cmd.Wait(); exited <- cmd.ProcessState.ExitCode() }()
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })

	// The first connection wakes the server, and is answered.
	var rc *rawClient
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for rc, err = dialRaw(addr); err != nil; rc, err = dialRaw(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("dial: %v\n%s", err, s.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer rc.Close()
	resp, err := rc.do("GET", "/hello")
	if err != nil || resp.body != strconv.Itoa(pid)+"\n" {
		t.Fatalf("first request: %+v %v, want the answer of %d\n%s", resp, err, pid, s.logs())
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "addr")); string(got) != addr {
		t.Errorf("served on %s, want %s, systemd's", got, addr)
	}

	// An upgrade passes systemd's socket on.
	s.waitPID(0)
	s.hup(pid)
	next := s.waitPID(pid)
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("old process exited %d\n%s", code, s.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("old process did not exit\n%s", s.logs())
	}
	rc2, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if resp, err := rc2.do("GET", "/hello"); err != nil || resp.body != strconv.Itoa(next)+"\n" {
		t.Errorf("after the upgrade: %+v %v, want the answer of %d", resp, err, next)
	}
	syscall.Kill(next, syscall.SIGTERM)
	if code := waitExit(t, next, 30*time.Second); code != 0 {
		t.Errorf("new process exited %d\n%s", code, s.logs())
	}
}

// TestRestartKeepsSocket stops the server and starts another while the
// listening socket stays open in their parent, as systemd keeps it in a
// socket unit or its file descriptor store across "systemctl restart":
// connections made while no process runs wait in the accept queue, so
// that nothing is refused or lost. The stopping process must leave the
// socket as it found it.
func TestRestartKeepsSocket(t *testing.T) {
	sh := needProgram(t, "sh", "dash")
	s := newUpgradeServer(t)
	dir := s.dir
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := ln.Addr().String()

	// start starts a server as systemd does: the socket as fd 3, named,
	// and LISTEN_PID set to the process's own PID, which only the process
	// itself can know: sh sets it, then becomes the server.
	start := func() *exec.Cmd {
		cmd := exec.Command(sh, "-c", `LISTEN_PID=$$ exec "$0" "$@"`, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), upgradeDirEnv+"="+dir, "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stdout, cmd.Stderr = s.log, s.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		return cmd
	}
	first := start()
	s.waitPID(0)
	load := startUpgradeLoad(addr, 16, 4)
	time.Sleep(time.Second)
	slow := getRaw(addr, "/slow", 3)
	time.Sleep(200 * time.Millisecond)
	first.Process.Signal(syscall.SIGTERM)
	first.Wait()
	if code := first.ProcessState.ExitCode(); code != 0 {
		t.Errorf("first process exited %d\n%s", code, s.logs())
	}
	time.Sleep(300 * time.Millisecond) // no process: connections queue
	second := start()
	s.waitPID(first.Process.Pid)
	time.Sleep(time.Second)
	failures := load.end()
	for range 3 {
		if err := <-slow; err != nil {
			t.Errorf("slow request: %v", err)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d requests refused or lost, of %d answered:\n%s\n%s", len(failures), load.answered.Load(), strings.Join(failures[:min(len(failures), 20)], "\n"), s.logs())
	} else {
		t.Logf("%d requests answered across the restart, 0 refused or lost", load.answered.Load())
	}
	second.Process.Signal(syscall.SIGTERM)
	second.Wait()
	if code := second.ProcessState.ExitCode(); code != 0 {
		t.Errorf("second process exited %d\n%s", code, s.logs())
	}
}

// TestSystemdNotify runs a group as systemd's Type=notify service with a
// watchdog: READY=1 once serving, WATCHDOG=1 at half the interval,
// STOPPING=1 with a status and the drain's bound when the shutdown begins.
func TestSystemdNotify(t *testing.T) {
	leakcheck(t)
	path := filepath.Join(t.TempDir(), "notify")
	notify := newNotifyReceiver(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	log, _ := testLogger(t)
	g := &Group{Logger: log, Signals: []os.Signal{}, Timeout: 2 * time.Second, CleanupReserve: 500 * time.Millisecond}
	g.Add(&HTTP{Server: &http.Server{Handler: testMux(), Addr: "127.0.0.1:0"}})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()
	count := func(key string) int {
		n := 0
		for _, m := range notify.messages() {
			if m.vars[key] == "1" {
				n++
			}
		}
		return n
	}
	waitFor(t, "READY=1 and three watchdog pings", func() bool { return count("READY") == 1 && count("WATCHDOG") >= 3 })
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "STOPPING=1", func() bool { return count("STOPPING") == 1 })
	msgs := notify.messages()
	for _, m := range msgs {
		if m.pid != os.Getpid() {
			t.Errorf("message from %d: %v", m.pid, m)
		}
		if m.vars["STOPPING"] == "1" {
			// Run's bound: Timeout + CleanupReserve (500ms, no less than
			// closeWait) + 50ms for the readiness checks; no cleanup.
			if want := strconv.Itoa(int((2*time.Second + 500*time.Millisecond + cleanupLinger).Microseconds())); m.vars["EXTEND_TIMEOUT_USEC"] != want {
				t.Errorf("EXTEND_TIMEOUT_USEC=%s, want %s", m.vars["EXTEND_TIMEOUT_USEC"], want)
			}
			if !strings.Contains(m.vars["STATUS"], "shutting down") {
				t.Errorf("STATUS=%q", m.vars["STATUS"])
			}
		}
	}
	// No ping after Run returned.
	pings := count("WATCHDOG")
	time.Sleep(300 * time.Millisecond)
	if count("WATCHDOG") != pings {
		t.Error("watchdog pings after Run returned")
	}
}

// TestForeground runs the server as runit or supervisord would: they watch
// the process they started, and signal it. With Foreground it stays after
// its upgrade, passes on the signals it gets (an upgrade, then the stop),
// and exits 0 when the last generation has.
func TestForeground(t *testing.T) {
	s := newUpgradeServer(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), upgradeDirEnv+"="+s.dir, "DRAIN_TEST_FOREGROUND=1")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := cmd.Process.Pid
	exited := make(chan int, 1)
	go func() { cmd.Wait(); exited <- cmd.ProcessState.ExitCode() }()
	pids := []int{s.waitPID(0)}
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	addrB, _ := os.ReadFile(filepath.Join(s.dir, "addr"))
	load := startUpgradeLoad(string(addrB), 8, 2)
	for range 2 {
		time.Sleep(time.Second)
		s.hup(first) // always the process the supervisor started
		pids = append(pids, s.waitPID(pids[len(pids)-1]))
	}
	time.Sleep(500 * time.Millisecond)
	if failures := load.end(); len(failures) > 0 {
		t.Errorf("%d requests refused or lost:\n%s", len(failures), strings.Join(failures[:min(len(failures), 10)], "\n"))
	}
	select {
	case code := <-exited:
		t.Fatalf("the first process exited %d after the upgrades\n%s", code, s.logs())
	default:
	}
	syscall.Kill(first, syscall.SIGTERM) // the supervisor stops the service
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("the first process exited %d\n%s", code, s.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the first process did not exit\n%s", s.logs())
	}
	if err := syscall.Kill(pids[len(pids)-1], 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the last generation %d is still running: %v", pids[len(pids)-1], err)
	}
	if !strings.Contains(s.logs(), "passing a signal to the process serving") {
		t.Errorf("no signal passed on\n%s", s.logs())
	}
}

// TestFDStore plays systemd's file descriptor store: the group stores its
// socket once ready, and its shutdown leaves it as it found it, so that
// connections made before the next process starts wait in its queue
// rather than being refused.
func TestFDStore(t *testing.T) {
	leakcheck(t)
	path := filepath.Join(t.TempDir(), "notify")
	notify := newNotifyReceiver(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	up := &Upgrader{FDStore: true}
	ln, err := up.Listen("web", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	log, _ := testLogger(t)
	g := &Group{Logger: log, Signals: []os.Signal{}, Upgrader: up}
	g.Add(&HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()
	var stored *os.File
	waitFor(t, "FDSTORE=1", func() bool {
		for _, m := range notify.messages() {
			if m.vars["FDSTORE"] == "1" && m.vars["FDNAME"] == "web" && len(m.files) == 1 {
				stored = m.files[0]
				return true
			}
		}
		return false
	})
	sa, err := syscall.Getsockname(int(stored.Fd()))
	if got, ok := sa.(*syscall.SockaddrInet4); !ok || strconv.Itoa(got.Port) != addr[strings.LastIndex(addr, ":")+1:] {
		t.Fatalf("stored descriptor is bound to %#v, want %s (%v)", sa, addr, err)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	// The store holds the socket: a client connects, and waits for the
	// next process.
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("after the shutdown, with the socket in the store: %v", err)
	}
	c.Close()
	n := 0
	for _, m := range notify.messages() {
		if m.vars["FDSTORE"] == "1" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the socket was stored %d times, want once", n)
	}
}
