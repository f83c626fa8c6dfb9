package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/internal/seed"
)

// The checks of deploy/systemd against drain and the demo, for each way
// the files combine (docs/restarts.md explains the settings).

const (
	// demoSocketName is the name the demo passes to Upgrader.Listen.
	// TestSystemdSocketActivation checks it against the demo itself.
	demoSocketName = "http"

	// demoSockets is how many listening sockets the demo has, for
	// FileDescriptorStoreMax=.
	demoSockets = 1

	// lingerWaits is what Group.Run's bound adds to Timeout +
	// CleanupReserve for the demo: 50 ms for its one cleanup function and
	// 50 ms for its readiness checks, should they ignore their context
	// (see Group.Run).
	lingerWaits = 2 * 50 * time.Millisecond
)

// systemdVariants are the ways deploy/systemd's files are installed: the
// service alone, with its socket, or with the fd-store drop-in. The
// drop-in is read after the service, as systemd reads drop-ins.
var systemdVariants = []struct {
	name   string
	units  []string // in deploy/systemd
	dropin string   // for drain-seed.service, "" for none
}{
	{"service", []string{"drain-seed.service"}, ""},
	{"socket", []string{"drain-seed.service", "drain-seed.socket"}, ""},
	{"fdstore", []string{"drain-seed.service"}, "fdstore.conf"},
}

// TestSystemd checks the unit files of deploy/systemd, in each variant,
// against drain's defaults and the demo's flags.
func TestSystemd(t *testing.T) {
	files := readSystemdFiles(t)
	for _, v := range systemdVariants {
		t.Run(v.name, func(t *testing.T) {
			for _, err := range checkSystemd(t, files, v.units, v.dropin) {
				t.Error(err)
			}
		})
	}
}

// TestSystemdChecksCatch breaks the real files one way at a time and
// expects the checks to say so.
func TestSystemdChecksCatch(t *testing.T) {
	const (
		svc    = "drain-seed.service"
		socket = "drain-seed.socket"
		fd     = "fdstore.conf"
	)
	type edit struct{ file, old, new string }
	tests := []struct {
		name    string
		variant string
		edits   []edit
		want    string
	}{
		{"Type=notify", "service", []edit{{svc, "Type=notify-reload\nExecStart", "Type=notify\nExecStart"}}, "Type=notify;"},
		{"ExecReload", "service", []edit{{svc, "Type=notify-reload\nExecStart", "Type=notify-reload\nExecReload=/bin/kill -HUP $MAINPID\nExecStart"}}, "ExecReload="},
		{"NotifyAccess=main", "service", []edit{{svc, "NotifyAccess=all", "NotifyAccess=main"}}, "NotifyAccess=main"},
		{"no NotifyAccess", "service", []edit{{svc, "NotifyAccess=all\n", ""}}, "NotifyAccess="},
		{"KillMode=mixed", "service", []edit{{svc, "KillMode=control-group", "KillMode=mixed"}}, "KillMode=mixed"},
		{"TimeoutStopSec at the bound", "service", []edit{{svc, "TimeoutStopSec=15s", "TimeoutStopSec=11s"}}, "TimeoutStopSec 11s"},
		{"-timeout too long for TimeoutStopSec", "service", []edit{{svc, "-addr=:3000 -timeout=10s", "-addr=:3000 -timeout=14s"}}, "TimeoutStopSec 15s"},
		{"default -timeout", "service", []edit{{svc, "-addr=:3000 -timeout=10s", "-addr=:3000"}}, ""},
		{"no TimeoutStopSec", "service", []edit{{svc, "TimeoutStopSec=15s\n", ""}}, "no TimeoutStopSec"},
		{"TimeoutStartSec under ReadyTimeout", "service", []edit{{svc, "TimeoutStartSec=90s", "TimeoutStartSec=1min"}}, "TimeoutStartSec 1m0s"},
		{"Restart=always", "service", []edit{{svc, "Restart=on-failure", "Restart=always"}}, "Restart=always"},
		{"bad flag", "service", []edit{{svc, "-timeout=10s\n", "-timeout=10\n"}}, "ExecStart"},
		{"two ExecStart", "service", []edit{{svc, "-timeout=10s\n", "-timeout=10s\nExecStart=/bin/true\n"}}, "2 ExecStart"},
		{"-timeout under the longest request", "service", []edit{{svc, "-timeout=10s\n", "-timeout=10s -delay=12s\n"}}, "longest request"},
		{"socket named otherwise", "socket", []edit{{socket, "FileDescriptorName=http", "FileDescriptorName=web"}}, `FileDescriptorName=web`},
		{"socket without a name", "socket", []edit{{socket, "FileDescriptorName=http\n", ""}}, `FileDescriptorName=`},
		{"socket on another port", "socket", []edit{{socket, "ListenStream=3000", "ListenStream=8080"}}, "ListenStream=8080"},
		{"Accept=yes", "socket", []edit{{socket, "Accept=no", "Accept=yes"}}, "Accept=yes"},
		{"socket for another service", "socket", []edit{{socket, "Accept=no\n", "Accept=no\nService=other.service\n"}}, "Service=other.service"},
		{"-fdstore with the socket", "socket", []edit{{svc, "-timeout=10s\n", "-timeout=10s -fdstore\n"}}, "-fdstore with drain-seed.socket"},
		{"drop-in without -fdstore", "fdstore", []edit{{fd, " -fdstore\n", "\n"}}, "lacks -fdstore"},
		{"drop-in without reset", "fdstore", []edit{{fd, "ExecStart=\n", ""}}, "2 ExecStart"},
		{"no FileDescriptorStoreMax", "fdstore", []edit{{fd, "FileDescriptorStoreMax=1\n", ""}}, "FileDescriptorStoreMax=0"},
		{"FileDescriptorStorePreserve=no", "fdstore", []edit{{fd, "FileDescriptorStorePreserve=restart", "FileDescriptorStorePreserve=no"}}, "FileDescriptorStorePreserve=no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := readSystemdFiles(t)
			for _, e := range tt.edits {
				s := string(files[e.file])
				if n := strings.Count(s, e.old); n != 1 {
					t.Fatalf("%s: %q occurs %d times, want once: fix the test", e.file, e.old, n)
				}
				files[e.file] = []byte(strings.Replace(s, e.old, e.new, 1))
			}
			for _, v := range systemdVariants {
				if v.name != tt.variant {
					continue
				}
				errs := checkSystemd(t, files, v.units, v.dropin)
				for _, err := range errs {
					t.Log(err)
				}
				switch {
				case tt.want == "" && len(errs) > 0:
					t.Errorf("unexpected problems: %v", errs)
				case tt.want != "" && !mentions(errs, tt.want):
					t.Errorf("no problem mentions %q; got %v", tt.want, errs)
				}
			}
		})
	}
}

// readSystemdFiles reads the files of deploy/systemd, by name.
func readSystemdFiles(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob("systemd/*")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(name)] = b
	}
	for _, v := range systemdVariants {
		for _, name := range append(v.units, v.dropin) {
			if _, ok := files[name]; name != "" && !ok {
				t.Fatalf("deploy/systemd/%s is missing", name)
			}
		}
	}
	return files
}

// loadService parses drain-seed.service with its drop-in, if any, and the
// demo's options from its ExecStart.
func loadService(t *testing.T, files map[string][]byte, dropin string) (unitFile, seed.Options, []error) {
	t.Helper()
	text := string(files["drain-seed.service"])
	if dropin != "" {
		text += "\n" + string(files[dropin])
	}
	u, err := parseUnit(text)
	if err != nil {
		return nil, seed.Options{}, []error{fmt.Errorf("drain-seed.service (with %q): %w", dropin, err)}
	}
	args, err := execStart(u)
	if err != nil {
		return nil, seed.Options{}, []error{err}
	}
	// The demo's -addr defaults to :$PORT: the unit's environment, not the
	// test's, decides.
	env := map[string]string{}
	for _, kv := range u["Service"]["Environment"] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	setPort(t, env)
	opts, err := seed.ParseArgs(args[1:], io.Discard)
	if err != nil {
		return nil, seed.Options{}, []error{fmt.Errorf("drain-seed.service: ExecStart %q: %w", args, err)}
	}
	return u, opts, nil
}

// execStart returns the words of the service's one ExecStart=.
func execStart(u unitFile) ([]string, error) {
	cmds := u["Service"]["ExecStart"]
	if len(cmds) != 1 {
		return nil, fmt.Errorf("drain-seed.service: %d ExecStart= commands, want 1 (a drop-in resets the list with an empty ExecStart= first)", len(cmds))
	}
	args := strings.Fields(cmds[0])
	if strings.ContainsAny(cmds[0], "$") || !filepath.IsAbs(args[0]) {
		return nil, fmt.Errorf("drain-seed.service: ExecStart=%s: want an absolute path and literal arguments", cmds[0])
	}
	return args, nil
}

// checkSystemd parses the units of a variant and returns every problem it
// finds.
func checkSystemd(t *testing.T, files map[string][]byte, units []string, dropin string) []error {
	t.Helper()
	u, opts, errs := loadService(t, files, dropin)
	if errs != nil {
		return errs
	}
	get := func(key string) string { v, _ := u.get("Service", key); return v }

	// The reload protocol and who may speak it.
	if v := get("Type"); v != "notify-reload" {
		errs = append(errs, fmt.Errorf("drain-seed.service: Type=%s; want notify-reload: systemd sends SIGHUP, the Upgrader's signal, and waits for the new process to be ready", v))
	}
	if v, ok := u.get("Service", "ExecReload"); ok {
		errs = append(errs, fmt.Errorf("drain-seed.service: ExecReload=%s: with Type=notify-reload systemd sends the signal itself and waits for READY=1", v))
	}
	if v := get("NotifyAccess"); v != "all" {
		errs = append(errs, fmt.Errorf("drain-seed.service: NotifyAccess=%s; want all: the new process sends READY=1 and MAINPID= itself", v))
	}
	if v := get("KillMode"); v != "control-group" {
		errs = append(errs, fmt.Errorf("drain-seed.service: KillMode=%s; want control-group: a previous generation still draining after an upgrade must not be killed when the serving process exits", v))
	}
	if v := get("Restart"); v != "on-failure" {
		errs = append(errs, fmt.Errorf("drain-seed.service: Restart=%s; want on-failure", v))
	}

	// The timing: SIGKILL after drain's bound, a reload bounded after the
	// Upgrader's.
	bound := opts.Timeout + drain.DefaultCleanupReserve + lingerWaits
	switch v, ok := u.get("Service", "TimeoutStopSec"); {
	case !ok:
		errs = append(errs, fmt.Errorf("drain-seed.service: no TimeoutStopSec=; want one above drain's bound %v, stated", bound))
	default:
		stop, err := parseTimeSpan(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("drain-seed.service: TimeoutStopSec=%s: %w", v, err))
		} else if need := bound + graceMargin; stop < need {
			errs = append(errs, fmt.Errorf("drain-seed.service: TimeoutStopSec %v is less than -timeout %v + CleanupReserve %v + waits %v + margin %v = %v: SIGKILL could cut the drain or the cleanup", stop, opts.Timeout, drain.DefaultCleanupReserve, lingerWaits, graceMargin, need))
		}
	}
	if v, ok := u.get("Service", "TimeoutStartSec"); ok {
		start, err := parseTimeSpan(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("drain-seed.service: TimeoutStartSec=%s: %w", v, err))
		} else if start <= drain.DefaultReadyTimeout {
			errs = append(errs, fmt.Errorf("drain-seed.service: TimeoutStartSec %v is not above the Upgrader's ReadyTimeout %v: systemd would end a reload before drain decides about the new process", start, drain.DefaultReadyTimeout))
		}
	}
	// No balancer in front: the drain must cover the longest request,
	// GET / (-delay).
	if need := opts.ShutdownDelay + opts.Delay + drain.DefaultIdleGrace; opts.Timeout < need {
		errs = append(errs, fmt.Errorf("drain-seed.service: -timeout %v is less than shutdown delay %v + longest request %v (GET /, -delay) + IdleGrace %v = %v", opts.Timeout, opts.ShutdownDelay, opts.Delay, drain.DefaultIdleGrace, need))
	}

	// The fd store.
	storeMax := 0
	if v, ok := u.get("Service", "FileDescriptorStoreMax"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("drain-seed.service: FileDescriptorStoreMax=%s is not a number", v))
		}
		storeMax = n
	}
	if opts.FDStore && storeMax < demoSockets {
		errs = append(errs, fmt.Errorf("drain-seed.service: -fdstore with FileDescriptorStoreMax=%d: systemd would refuse the demo's %d socket", storeMax, demoSockets))
	}
	if v := get("FileDescriptorStorePreserve"); opts.FDStore && v == "no" {
		errs = append(errs, fmt.Errorf("drain-seed.service: FileDescriptorStorePreserve=no: the store would be emptied at a restart"))
	}
	if dropin == "fdstore.conf" && !opts.FDStore {
		errs = append(errs, fmt.Errorf("fdstore.conf: ExecStart lacks -fdstore: nothing would be stored"))
	}

	// The socket.
	for _, name := range units {
		if !strings.HasSuffix(name, ".socket") {
			continue
		}
		errs = append(errs, checkSocket(name, files[name], opts)...)
	}
	return errs
}

// checkSocket checks a socket unit that passes the demo its socket.
func checkSocket(name string, b []byte, opts seed.Options) []error {
	s, err := parseUnit(string(b))
	if err != nil {
		return []error{fmt.Errorf("%s: %w", name, err)}
	}
	var errs []error
	get := func(key string) string { v, _ := s.get("Socket", key); return v }
	if v := get("FileDescriptorName"); v != demoSocketName {
		errs = append(errs, fmt.Errorf("%s: FileDescriptorName=%s; the demo asks Upgrader.Listen for %q (without it, systemd names the socket after the unit)", name, v, demoSocketName))
	}
	if v := get("Accept"); v == "yes" || v == "true" {
		errs = append(errs, fmt.Errorf("%s: Accept=%s: the demo takes the listening socket, not a connection per process", name, v))
	}
	if v, ok := s.get("Socket", "Service"); ok && v != "drain-seed.service" {
		errs = append(errs, fmt.Errorf("%s: Service=%s; want drain-seed.service", name, v))
	}
	if opts.FDStore {
		errs = append(errs, fmt.Errorf("%s: -fdstore with drain-seed.socket: the socket unit already keeps the socket across restarts", name))
	}
	streams := s["Socket"]["ListenStream"]
	if len(streams) != demoSockets {
		return append(errs, fmt.Errorf("%s: %d ListenStream=, want %d", name, len(streams), demoSockets))
	}
	_, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return append(errs, fmt.Errorf("drain-seed.service: -addr %q: %w", opts.Addr, err))
	}
	// A port alone listens on every address, as -addr=:port does.
	if streams[0] != port {
		errs = append(errs, fmt.Errorf("%s: ListenStream=%s; the demo listens on %s (-addr), and refuses a socket elsewhere", name, streams[0], opts.Addr))
	}
	return errs
}

// TestSystemdVerify runs systemd-analyze verify on each variant, and on a
// broken unit to see that it can fail. It needs systemd-analyze (Debian's
// systemd package); CI installs it.
func TestSystemdVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found: install Debian's systemd package (.ci/run does)")
		}
		t.Skip("systemd-analyze not found (Debian: apt-get install systemd): the unit files are not verified")
	}
	version := systemdVersion(t, analyze)
	files := readSystemdFiles(t)
	for _, v := range systemdVariants {
		t.Run(v.name, func(t *testing.T) {
			for _, err := range verifyUnits(t, analyze, version, files, v.units, v.dropin) {
				t.Error(err)
			}
		})
	}
	t.Run("broken", func(t *testing.T) {
		broken := map[string][]byte{"drain-seed.service": bytes.Replace(files["drain-seed.service"], []byte("KillMode=control-group"), []byte("KillMode=control-grup"), 1)}
		errs := verifyUnits(t, analyze, version, broken, []string{"drain-seed.service"}, "")
		if !mentions(errs, "control-grup") {
			t.Errorf("systemd-analyze verify found nothing wrong with KillMode=control-grup; got %v", errs)
		}
	})
}

// systemdVersion returns the version of systemd-analyze.
func systemdVersion(t *testing.T, analyze string) int {
	t.Helper()
	out, err := exec.Command(analyze, "--version").Output()
	if err != nil {
		t.Fatalf("systemd-analyze --version: %v", err)
	}
	m := regexp.MustCompile(`^systemd (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze --version: no version in %q", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// newerSettings are the settings of deploy/systemd that older systemd
// versions do not know, with the version that brought them, and how
// systemd-analyze reports them unknown. An older systemd-analyze cannot
// check them; anything else it says is a problem.
var newerSettings = []struct {
	version int
	line    *regexp.Regexp
}{
	{253, regexp.MustCompile(`Failed to parse service type, ignoring: notify-reload$`)},
	{253, regexp.MustCompile(`Unknown key (name )?'?ReloadSignal'?`)},
	{254, regexp.MustCompile(`Unknown key (name )?'?FileDescriptorStorePreserve'?`)},
}

// verifyUnits copies the units of a variant to a directory of their own,
// with ExecStart's program replaced by this test's executable (systemd-
// analyze checks that the program exists; /usr/local/bin/seed is not
// installed here), runs systemd-analyze verify on them and returns what
// it reports.
func verifyUnits(t *testing.T, analyze string, version int, files map[string][]byte, units []string, dropin string) []error {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, withProgram(b, exe), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, name := range units {
		p := filepath.Join(dir, name)
		write(p, files[name])
		paths = append(paths, p)
	}
	if dropin != "" {
		write(filepath.Join(dir, "drain-seed.service.d", dropin), files[dropin])
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	var errs []error
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if since, ok := newerThan(line, version); ok {
			t.Logf("systemd %d predates this setting (systemd %d), and cannot check it: %s", version, since, line)
			continue
		}
		errs = append(errs, fmt.Errorf("systemd-analyze verify: %s", strings.ReplaceAll(line, dir+"/", "")))
	}
	if runErr != nil {
		errs = append(errs, fmt.Errorf("systemd-analyze verify: %v", runErr))
	}
	return errs
}

// newerThan reports whether line is systemd-analyze saying that it does
// not know a setting newer than version, and which version brought it.
func newerThan(line string, version int) (int, bool) {
	for _, s := range newerSettings {
		if version < s.version && s.line.MatchString(line) {
			return s.version, true
		}
	}
	return 0, false
}

// withProgram returns a unit file with the program of each ExecStart=
// replaced by exe.
func withProgram(b []byte, exe string) []byte {
	var out strings.Builder
	for line := range strings.Lines(string(b)) {
		if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok && strings.TrimSpace(cmd) != "" {
			_, args, _ := strings.Cut(cmd, " ")
			line = "ExecStart=" + exe + " " + args
		}
		out.WriteString(line)
	}
	return []byte(out.String())
}

// seedChildEnv makes this test's executable run the demo (see init), as
// systemd would run it from the socket unit.
const seedChildEnv = "DRAIN_DEPLOY_TEST_SEED"

func init() {
	if os.Getenv(seedChildEnv) == "" {
		return
	}
	// systemd sets LISTEN_PID to the process it starts; only the process
	// knows its own PID before the exec.
	if os.Getenv("LISTEN_FDS") != "" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	os.Exit(seed.Run(os.Args[1:], os.Stderr))
}

// TestSystemdSocketActivation runs the demo as drain-seed.socket and
// drain-seed.service would, with the socket passed by the name the socket
// unit gives it and a stand-in for systemd's notification socket: the
// demo must serve on that socket (a name it does not know would make it
// listen anew on the same port, and fail), say READY=1, and at SIGTERM
// say STOPPING=1 with an EXTEND_TIMEOUT_USEC= below the unit's
// TimeoutStopSec=, exit 0, and leave the socket open for the next process.
func TestSystemdSocketActivation(t *testing.T) {
	files := readSystemdFiles(t)
	u, _, errs := loadService(t, files, "")
	if errs != nil {
		t.Fatal(errs)
	}
	args, err := execStart(u)
	if err != nil {
		t.Fatal(err)
	}
	socket, err := parseUnit(string(files["drain-seed.socket"]))
	if err != nil {
		t.Fatal(err)
	}
	name, _ := socket.get("Socket", "FileDescriptorName")
	stopSpan, _ := u.get("Service", "TimeoutStopSec")
	timeoutStop, err := parseTimeSpan(stopSpan)
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", stopSpan, err)
	}

	// The socket unit's socket, on a free port rather than ListenStream's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()
	addr := ln.Addr().String()

	dir := t.TempDir()
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 16)
	go func() { // ends when notify is closed, below
		defer close(msgs)
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	defer func() {
		notify.Close()
		for range msgs {
		}
	}()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var childArgs []string
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-addr=") {
			childArgs = append(childArgs, a)
		}
	}
	cmd := exec.Command(exe, append(childArgs, "-addr="+addr)...)
	cmd.Env = append(os.Environ(), seedChildEnv+"=1",
		"LISTEN_FDS=1", "LISTEN_FDNAMES="+name, "NOTIFY_SOCKET="+notifyPath)
	cmd.ExtraFiles = []*os.File{lnFile}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("the demo's log:\n%s", stderr.String())
		}
	}()

	// READY=1, or the demo's exit.
	wait := func(what string) string {
		t.Helper()
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		for {
			select {
			case m := <-msgs:
				if strings.Contains("\n"+m+"\n", "\n"+what+"\n") {
					return m
				}
			case err := <-exited:
				exited <- err
				t.Fatalf("the demo exited (%v) before it said %s", err, what)
			case <-timer.C:
				t.Fatalf("the demo did not say %s within 10s", what)
			}
		}
	}
	wait("READY=1")

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/fast")
	if err != nil {
		t.Fatalf("GET /fast on the socket passed as %q: %v", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /fast: %s", resp.Status)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopping := wait("STOPPING=1")
	var extend time.Duration
	for line := range strings.Lines(stopping) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "EXTEND_TIMEOUT_USEC="); ok {
			usec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("EXTEND_TIMEOUT_USEC=%s", v)
			}
			extend = time.Duration(usec) * time.Microsecond
		}
	}
	switch {
	case extend == 0:
		t.Errorf("STOPPING=1 without EXTEND_TIMEOUT_USEC=: %q", stopping)
	case extend >= timeoutStop:
		t.Errorf("the demo's bound (EXTEND_TIMEOUT_USEC) %v is not below TimeoutStopSec %v", extend, timeoutStop)
	default:
		t.Logf("the demo's bound %v, TimeoutStopSec %v", extend, timeoutStop)
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the demo exited with %v, want 0", err)
		}
	case <-time.After(timeoutStop):
		t.Fatalf("the demo still ran %v after SIGTERM", timeoutStop)
	}

	// systemd's socket outlives the process: a connection made now waits
	// in its accept queue for the next one.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Errorf("after the demo's exit, the socket refuses connections: %v", err)
	} else {
		c.Close()
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("dialing the socket after the demo's exit took 2s")
	}
}
