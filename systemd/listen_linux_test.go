package systemd

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var listenVars = []string{"LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES"}

func TestListenFilesEnv(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	pidfdID, pidfs := ownPidfdID()
	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"no activation", nil, false},
		{"another process", map[string]string{"LISTEN_PID": strconv.Itoa(os.Getpid() + 1), "LISTEN_FDS": "1"}, false},
		{"no LISTEN_FDS", map[string]string{"LISTEN_PID": self}, false},
		{"LISTEN_PID not a number", map[string]string{"LISTEN_PID": "me", "LISTEN_FDS": "1"}, true},
		{"LISTEN_PID empty", map[string]string{"LISTEN_PID": "", "LISTEN_FDS": "1"}, true},
		{"LISTEN_PID zero", map[string]string{"LISTEN_PID": "0", "LISTEN_FDS": "1"}, true},
		{"LISTEN_PID negative", map[string]string{"LISTEN_PID": "-" + self, "LISTEN_FDS": "1"}, true},
		{"LISTEN_FDS zero", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "0"}, true},
		{"LISTEN_FDS negative", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "-1"}, true},
		{"LISTEN_FDS not a number", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "two"}, true},
		{"LISTEN_FDS overflows", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "2147483646"}, true},
		{"fewer names", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "2", "LISTEN_FDNAMES": "web"}, true},
		{"more names", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "1", "LISTEN_FDNAMES": "web:admin"}, true},
		// fd 3 onwards are the runtime's and the test's, then comes one
		// that is not open.
		{"descriptors not open", map[string]string{"LISTEN_PID": self, "LISTEN_FDS": "1048576"}, true},
		{"LISTEN_PIDFDID not a number", map[string]string{"LISTEN_PID": self, "LISTEN_PIDFDID": "x", "LISTEN_FDS": "1"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setListenEnv(t, tt.env)
			files, err := ListenFiles()
			if files != nil {
				t.Errorf("ListenFiles returned %d files", len(files))
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("ListenFiles error: %v, want error %v", err, tt.wantErr)
			}
			checkListenUnset(t)
		})
	}
	t.Run("LISTEN_PIDFDID", func(t *testing.T) {
		if !pidfs {
			t.Skip("no pidfs (Linux 6.9) here: LISTEN_PIDFDID cannot be checked")
		}
		// Another process's pidfd id: not for us.
		setListenEnv(t, map[string]string{"LISTEN_PID": self, "LISTEN_PIDFDID": strconv.FormatUint(pidfdID+1, 10), "LISTEN_FDS": "1"})
		if files, err := ListenFiles(); files != nil || err != nil {
			t.Errorf("ListenFiles() = %v, %v; want nil, nil", files, err)
		}
		checkListenUnset(t)
		// Ours: ListenFiles goes on to LISTEN_FDS, which is malformed.
		setListenEnv(t, map[string]string{"LISTEN_PID": self, "LISTEN_PIDFDID": strconv.FormatUint(pidfdID, 10), "LISTEN_FDS": "0"})
		if _, err := ListenFiles(); err == nil {
			t.Error("ListenFiles with this process's LISTEN_PIDFDID did not get to LISTEN_FDS")
		}
		checkListenUnset(t)
	})
}

// ownPidfdID returns the inode number of a pidfd of this process, and
// whether it is the process's id (pidfs).
func ownPidfdID() (uint64, bool) {
	fd, _, errno := syscall.Syscall(434, uintptr(os.Getpid()), 0, 0)
	if errno != 0 {
		return 0, false
	}
	defer syscall.Close(int(fd))
	var fs syscall.Statfs_t
	var st syscall.Stat_t
	if syscall.Fstatfs(int(fd), &fs) != nil || fs.Type != 0x50494446 || syscall.Fstat(int(fd), &st) != nil {
		return 0, false
	}
	return st.Ino, true
}

func setListenEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, v := range listenVars {
		t.Setenv(v, "") // restored after the test
		if val, ok := env[v]; ok {
			os.Setenv(v, val)
		} else {
			os.Unsetenv(v)
		}
	}
}

func checkListenUnset(t *testing.T) {
	t.Helper()
	for _, v := range listenVars {
		if val, ok := os.LookupEnv(v); ok {
			t.Errorf("%s=%q still set after ListenFiles", v, val)
		}
	}
}

// childMain is the child of the socket activation tests: it takes its
// listeners from ListenFiles and answers one connection on each with a
// line that tells what it saw:
//
//	name=web pid=1234 cloexec=true env=unset got=<the client's line>
func childMain() int {
	files, err := ListenFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "child: no files from ListenFiles")
		return 3
	}
	env := "unset"
	for _, v := range listenVars {
		if _, ok := os.LookupEnv(v); ok {
			env = v + " still set"
		}
	}
	for _, f := range files {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFD, 0)
		cloexec := errno == 0 && flags&syscall.FD_CLOEXEC != 0
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(60 * time.Second))
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		fmt.Fprintf(c, "name=%s pid=%d cloexec=%t env=%s got=%s", f.Name(), os.Getpid(), cloexec, env, line)
		c.Close()
	}
	return 0
}

// A socket is one that the child is expected to serve.
type socket struct{ network, addr, name string }

// serveOnce connects to each socket in turn, and checks the child's
// answer on it.
func serveOnce(t *testing.T, cmd *exec.Cmd, sockets []socket, stderr func() string) {
	t.Helper()
	for _, s := range sockets {
		c, err := net.DialTimeout(s.network, s.addr, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(c, "hello %s\n", s.name)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			time.Sleep(100 * time.Millisecond) // for the child's last words
			t.Fatalf("no answer on %s %s: %v\n%s", s.network, s.addr, err, stderr())
		}
		want := fmt.Sprintf("name=%s pid=%d cloexec=true env=unset got=hello %s\n", s.name, cmd.Process.Pid, s.name)
		if line != want {
			t.Errorf("the child answered on %s\n%q, want\n%q", s.addr, line, want)
		}
	}
}

// waitChild waits for the child to exit 0.
func waitChild(t *testing.T, cmd *exec.Cmd, stderr func() string) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child: %v\n%s", err, stderr())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("the child did not exit\n%s", stderr())
	}
}

// TestListenFilesSocketActivation runs the child under Debian's
// systemd-socket-activate, which listens on the sockets, waits for a first
// connection, then execs the child with them as fds 3 and 4 and LISTEN_*
// set, as systemd does for a socket unit with Accept=no.
func TestListenFilesSocketActivation(t *testing.T) {
	bin, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		msg := "systemd-socket-activate not found (Debian package systemd): the socket activation test cannot run"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	unixAddr := filepath.Join(t.TempDir(), "admin.sock")
	// systemd-socket-activate takes no port 0: take a free port, and try
	// again in the unlikely case that another process takes it first.
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tcpAddr := l.Addr().String()
		l.Close()
		os.Remove(unixAddr)

		// It passes the child only the variables named by -E.
		cmd := exec.Command(bin, "-l", tcpAddr, "-l", unixAddr, "--fdname=web:admin", "-E", childEnv+"=activated",
			os.Args[0], "-test.run=^$")
		lines, stderr := startWithStderr(t, cmd)
		// "Listening on ADDR as N." for each socket: then it waits for a
		// connection.
		listening := 0
		for listening < 2 {
			line, ok := <-lines
			if !ok {
				break
			}
			if strings.HasPrefix(line, "Listening on ") {
				listening++
			}
		}
		if listening < 2 {
			cmd.Wait()
			if strings.Contains(stderr(), "already in use") && attempt < 5 {
				continue
			}
			t.Fatalf("systemd-socket-activate did not listen:\n%s", stderr())
		}
		serveOnce(t, cmd, []socket{{"tcp", tcpAddr, "web"}, {"unix", unixAddr, "admin"}}, stderr)
		waitChild(t, cmd, stderr)
		return
	}
}

// TestListenFilesUnnamed passes the child two listening sockets as a
// service manager does, but without LISTEN_FDNAMES: each is "unknown".
func TestListenFilesUnnamed(t *testing.T) {
	var files []*os.File
	var sockets []socket
	for _, network := range []string{"tcp", "unix"} {
		addr := "127.0.0.1:0"
		if network == "unix" {
			addr = filepath.Join(t.TempDir(), "sock")
		}
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		f, err := l.(interface{ File() (*os.File, error) }).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
		sockets = append(sockets, socket{network, l.Addr().String(), "unknown"})
	}
	// LISTEN_PID must be the child's own PID: the shell sets it to its own
	// and execs the child in its place.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=2 exec "$0" -test.run='^$'`, os.Args[0])
	cmd.Env = []string{childEnv + "=unnamed"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.ExtraFiles = files
	_, stderr := startWithStderr(t, cmd)
	serveOnce(t, cmd, sockets, stderr)
	waitChild(t, cmd, stderr)
}

// startWithStderr starts cmd and returns its stderr, line by line as it
// comes, and all of it so far. The lines channel is closed once the
// process (and every child it started) has closed stderr. The process is
// killed at the end of the test if it still runs.
func startWithStderr(t *testing.T, cmd *exec.Cmd) (<-chan string, func() string) {
	t.Helper()
	// A pipe of our own rather than StderrPipe, whose reads must all be
	// done before Wait.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	var mu sync.Mutex
	var all strings.Builder
	lines := make(chan string, 100)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer close(lines)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		<-copied
	})
	return lines, func() string {
		mu.Lock()
		defer mu.Unlock()
		return all.String()
	}
}
