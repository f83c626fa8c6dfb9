//go:build unix

package drain

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/netutil"
)

func TestUpgraderListen(t *testing.T) {
	leakcheck(t)
	var up Upgrader
	ln, err := up.Listen("web", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := up.Listen("web", "tcp", "127.0.0.1:0"); err == nil {
		t.Error("a second socket of the same name: no error")
	}
	for _, name := range []string{"", "a:b", "with space", "tab\t", strings.Repeat("x", 256), "é"} {
		if _, err := up.Listen(name, "tcp", "127.0.0.1:0"); err == nil {
			t.Errorf("name %q: no error", name)
		}
	}
	if _, err := up.Listen("bad", "tcp", "not an address"); err == nil {
		t.Error("bad address: no error")
	}
	files, names, shared, err := up.files(false)
	if err != nil || len(files) != 1 || names[0] != "web" || len(shared) != 0 {
		t.Fatalf("files: %v %v %v %v", files, names, shared, err)
	}
	closeAll(files)
}

func TestSameAddress(t *testing.T) {
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	for _, c := range []struct {
		network, address string
		got              net.Addr
		same             bool
	}{
		{"tcp", ":8080", tcp("[::]:8080"), true},
		{"tcp", "0.0.0.0:8080", tcp("[::]:8080"), true},
		{"tcp", ":8080", tcp("[::]:8081"), false},
		{"tcp", "127.0.0.1:8080", tcp("127.0.0.1:8080"), true},
		{"tcp", "127.0.0.1:8080", tcp("[::]:8080"), false},
		{"tcp", ":8080", tcp("127.0.0.1:8080"), false},
		{"tcp", "127.0.0.1:0", tcp("127.0.0.1:40000"), true}, // the system chose the port
		{"unix", "/run/app.sock", &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}, true},
		{"unix", "/run/app.sock", &net.UnixAddr{Name: "/run/other.sock", Net: "unix"}, false},
	} {
		if got := sameAddress(c.network, c.address, c.got); got != c.same {
			t.Errorf("sameAddress(%q, %q, %v) = %v", c.network, c.address, c.got, got)
		}
	}
}

func TestUpgraderInvalid(t *testing.T) {
	leakcheck(t)
	for _, up := range []*Upgrader{{Signal: syscall.SIGTERM}, {Signal: os.Interrupt}, {ReadyTimeout: -time.Second}} {
		g := &Group{Upgrader: up, Logger: slog.New(slog.DiscardHandler)}
		if err := g.Run(context.Background()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: Run returned %v, want ErrInvalid", up, err)
		}
	}
	if err := (&Upgrader{}).Upgrade(context.Background()); !errors.Is(err, ErrUpgrade) {
		t.Errorf("Upgrade without Run: %v, want ErrUpgrade", err)
	}
}

// runUpgradable runs, in process, a group with up and an HTTP server on a
// socket from up, with a short bound and no signal. It returns the socket,
// the group, its logs, what ends its Run, and Run's result.
func runUpgradable(t *testing.T, up *Upgrader) (net.Listener, *Group, func() string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := up.Listen("web", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log, logs := testLogger(t)
	g := &Group{Upgrader: up, Logger: log, Timeout: 500 * time.Millisecond, CleanupReserve: 100 * time.Millisecond, Signals: []os.Signal{}}
	g.Add(&HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()
	return ln, g, logs, cancel, ran
}

// TestUpgradeRollsBack upgrades, in process, to commands that fail: the
// group must serve on, and its PID file name it still.
func TestUpgradeRollsBack(t *testing.T) {
	leakcheck(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	var command func() *exec.Cmd
	up := &Upgrader{
		PIDFile:      pidFile,
		ReadyTimeout: 300 * time.Millisecond,
		Command:      func() (*exec.Cmd, error) { return command(), nil },
	}
	ln, _, logs, cancel, ran := runUpgradable(t, up)
	waitFor(t, "the PID file", func() bool {
		b, _ := os.ReadFile(pidFile)
		return strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid())
	})

	for _, c := range []struct {
		name, want string
		cmd        func() *exec.Cmd
	}{
		{"exits", "exited before it was ready (it ended: exit status 1)", func() *exec.Cmd { return exec.Command("false") }},
		{"never ready", "not ready within 300ms; asked to stop, it was still running", func() *exec.Cmd { return exec.Command("sleep", "60") }},
		{"missing", "no such file", func() *exec.Cmd { return exec.Command(filepath.Join(t.TempDir(), "missing")) }},
	} {
		command = c.cmd
		err := up.Upgrade(context.Background())
		if !errors.Is(err, ErrUpgrade) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Upgrade returned %v, want ErrUpgrade saying %q", c.name, err, c.want)
		}
		rc, err := dialRaw(ln.Addr().String())
		if err != nil {
			t.Fatalf("%s: serving on? %v", c.name, err)
		}
		if resp, err := rc.do("GET", "/fast"); err != nil || resp.status != 200 {
			t.Errorf("%s: after the failed upgrade: %+v %v", c.name, resp, err)
		}
		rc.Close()
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PID file left behind: %v", err)
	}
	if !strings.Contains(logs(), "upgrade failed; serving on") {
		t.Errorf("no log of the failed upgrade:\n%s", logs())
	}
}

// TestShutdownCallsUpgradeOff shuts the group down while a new process is
// starting and not ready: the upgrade is called off, the new process
// killed, and Run keeps its bound.
func TestShutdownCallsUpgradeOff(t *testing.T) {
	leakcheck(t)
	up := &Upgrader{Command: func() (*exec.Cmd, error) { return exec.Command("sleep", "60"), nil }}
	_, g, logs, cancel, ran := runUpgradable(t, up)
	<-g.Happened(Serving)
	upgraded := make(chan error, 1)
	go func() { upgraded <- up.Upgrade(context.Background()) }()
	waitFor(t, "the upgrade to begin", func() bool { return strings.Contains(logs(), "upgrading") })
	began := time.Now()
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Run returned %v after the shutdown began", took)
	}
	if err := <-upgraded; !errors.Is(err, ErrUpgrade) || !strings.Contains(err.Error(), "shutdown began before the new process was ready") {
		t.Errorf("Upgrade: %v", err)
	}
}

func TestUpgraderOwnsWrapped(t *testing.T) {
	var up, other Upgrader
	ln, err := up.Listen("web", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wrapped := netutil.LimitListener(ln, 10)
	if !up.owns(ln) || !up.owns(wrapped) || other.owns(wrapped) {
		t.Errorf("owns: %v %v %v, want true true false", up.owns(ln), up.owns(wrapped), other.owns(wrapped))
	}
}

// A failingServer fails some time after it starts serving.
type failingServer struct{ after time.Duration }

func (f failingServer) Serve() error {
	time.Sleep(f.after)
	return errors.New("cannot listen on :9090")
}
func (f failingServer) Shutdown(context.Context) error { return nil }
func (f failingServer) Close() error                   { return nil }

// fieldServer is a HandOffer of another package that shows its listener,
// as draingrpc's server does.
type fieldServer struct {
	Listener net.Listener
	failingServer
}

func (*fieldServer) HandOff() {}

func TestHandsOffOnlyUpgraderSockets(t *testing.T) {
	var up Upgrader
	ln, err := up.Listen("web", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	s := &service{u: &up, handedOff: true}
	for _, c := range []struct {
		srv  Server
		want bool
	}{
		{&fieldServer{Listener: ln}, true},
		{&fieldServer{Listener: own}, false}, // its own socket: the new process has none of it
		{failingServer{}, true},              // cannot tell: the group hands off
		{&HTTP{Listener: ln}, false},         // its listener knows
	} {
		if got := s.handsOff(c.srv); got != c.want {
			t.Errorf("handsOff(%T) = %v, want %v", c.srv, got, c.want)
		}
	}
}
