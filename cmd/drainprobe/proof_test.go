package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/drain-go/drain/internal/probe"
)

// The proof that drainprobe judges correctly: servers written with a known
// flaw (testdata/servers) must FAIL for that reason, and a correct one
// must PASS.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// server builds the test servers once and returns the path of one.
func server(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = mkdirTemp()
		for _, s := range []string{"naive", "stdlib", "hang", "exitone", "good", "quitter", "halfclose", "daemon", "perconn", "linger", "flipper"} {
			if buildErr != nil {
				return
			}
			out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, s), "./testdata/servers/"+s).CombinedOutput()
			if err != nil {
				buildErr = &buildError{s, err, out}
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

func TestVerdicts(t *testing.T) {
	// A short scenario: busy keep-alive clients, slow requests in flight
	// at the signal, idle connections and silent sockets.
	load := []string{"--json", "--busy", "8", "--slow", "2", "--slow-path", "/slow?ms=1200", "--idle", "4", "--silent", "5", "--warmup", "700ms"}
	for _, tc := range []struct {
		server string
		args   []string
		want   []string // reasons it must fail for; none: PASS
		never  []string // reasons that would be wrong
	}{
		{"good", nil, nil, nil},
		// No signal handling: SIGTERM kills it mid-request.
		{"naive", nil, []string{"exit-code", "slow-incomplete", "lost"}, []string{"killed"}},
		// Go's Shutdown pattern: one request lost per busy keep-alive
		// connection, and the silent sockets held for 5 s.
		{"stdlib", []string{"--grace", "15s"}, []string{"lost", "held-sockets"}, []string{"exit-code", "killed", "slow-incomplete"}},
		// Never exits: killed at the grace period.
		{"hang", []string{"--grace", "1s"}, []string{"killed"}, []string{"exit-code"}},
		// Half-closes its idle and silent connections and waits for the
		// peers to close theirs, as a real client does at once.
		{"halfclose", nil, nil, nil},
		// Drains well, then exits 1.
		{"exitone", nil, []string{"exit-code"}, []string{"lost", "slow-incomplete", "killed", "held-sockets", "exit-lag"}},
	} {
		t.Run(tc.server, func(t *testing.T) {
			args := append(append(slices.Clone(load), tc.args...), "--", server(t, tc.server))
			code, stdout, stderr := probeRun(t, args...)
			wantCode := exitFail
			if tc.want == nil {
				wantCode = exitPass
			}
			if code != wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, wantCode, stdout, stderr)
			}
			got := reasons(decodeReport(t, stdout))
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("reasons %v lack %q", got, w)
				}
			}
			for _, n := range tc.never {
				if slices.Contains(got, n) {
					t.Errorf("reasons %v include %q, which is wrong for this server", got, n)
				}
			}
		})
	}
}

// reasons returns the codes of the verdict's reasons to fail.
func reasons(v *jsonReport) []string {
	var codes []string
	for _, r := range v.Verdict.Reasons {
		codes = append(codes, r.Code)
	}
	return codes
}

type buildError struct {
	server string
	err    error
	out    []byte
}

func (e *buildError) Error() string {
	return "building test server " + e.server + ": " + e.err.Error() + "\n" + string(e.out)
}

// A server that exits on its own before the signal cannot be judged: the
// probe says so, exit status 2.
func TestServerExitingBeforeSignal(t *testing.T) {
	code, _, stderr := probeRun(t, "--quiet", "--warmup", "2s", "--", server(t, "quitter"))
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"exited", "quitting of my own accord"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// A shell that starts the server and goes on (`sh -c 'server; echo done'`)
// dies of the signal while the server it started serves on: drainprobe
// must say so, and must not leave that server running.
func TestWrapperServingAfterExit(t *testing.T) {
	bin := server(t, "good")
	code, stdout, stderr := probeRun(t, "--json", "--busy", "4", "--slow", "0", "--idle", "0", "--silent", "0", "--warmup", "500ms",
		"--", "sh", "-c", bin+"; echo done")
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFail, stdout, stderr)
	}
	got := reasons(decodeReport(t, stdout))
	if !slices.Contains(got, "served-after-exit") {
		t.Errorf("reasons %v lack served-after-exit", got)
	}
	if pids := running(t, bin); len(pids) > 0 {
		t.Errorf("the wrapped server is still running: pids %v", pids)
	}
}

// A wrapper that handles SIGTERM by waiting for its server (npm, yarn and
// many entry-point scripts do) drains only if the signal reaches the server
// too: with --signal-group it does, and the run passes; without, the
// server never learns of the signal and is killed at the grace period.
func TestSignalGroup(t *testing.T) {
	// ":" as the trap, not "": an ignored signal would be ignored by the
	// server too, a caught one is reset to its default by exec.
	wrapper := []string{"sh", "-c", `trap : TERM; "$0" & wait $!; wait $!`, server(t, "good")}
	load := []string{"--json", "--busy", "4", "--slow", "1", "--slow-path", "/slow?ms=800", "--idle", "0", "--silent", "0", "--warmup", "500ms", "--grace", "3s"}
	for _, tc := range []struct {
		group bool
		code  int
	}{{true, exitPass}, {false, exitFail}} {
		args := slices.Clone(load)
		if tc.group {
			args = append(args, "--signal-group")
		}
		code, stdout, stderr := probeRun(t, append(append(args, "--"), wrapper...)...)
		if code != tc.code {
			t.Errorf("--signal-group=%v: exit %d, want %d\n%s", tc.group, code, tc.code, stderr)
			continue
		}
		v := decodeReport(t, stdout)
		if v.SignalGroup != tc.group {
			t.Errorf("--signal-group=%v: the report says signal_group %v", tc.group, v.SignalGroup)
		}
		if !tc.group && !slices.Contains(reasons(v), "killed") {
			t.Errorf("without --signal-group: reasons %v lack killed", reasons(v))
		}
	}
}

// --signal takes any signal by name or number: a server that stops
// gracefully on SIGWINCH is probed with it.
func TestAnySignal(t *testing.T) {
	bin := server(t, "good")
	for _, sig := range []string{"SIGWINCH", "winch", "28"} {
		code, stdout, stderr := probeRun(t, "--json", "--busy", "2", "--slow", "0", "--idle", "0", "--silent", "0", "--warmup", "300ms", "--signal", sig,
			"--", "env", "GOOD_SIGNAL=SIGWINCH", bin)
		if code != exitPass {
			t.Errorf("--signal %s: exit %d, want %d\n%s", sig, code, exitPass, stderr)
			continue
		}
		if v := decodeReport(t, stdout); v.Signal != "SIGWINCH" {
			t.Errorf("--signal %s: the report names %q", sig, v.Signal)
		}
	}
	if code, _, stderr := probeRun(t, "--signal", "SIGNOPE", "--", bin); code != exitUsage || !strings.Contains(stderr, "SIGNOPE") {
		t.Errorf("--signal SIGNOPE: exit %d, want %d, with the name in stderr:\n%s", code, exitUsage, stderr)
	}
}

// running returns the processes whose command line starts with bin.
func running(t *testing.T, bin string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // gone since the glob
		}
		if strings.HasPrefix(string(b), bin+"\x00") {
			pids = append(pids, filepath.Base(filepath.Dir(d)))
		}
	}
	return pids
}

// A load that tests nothing (the busy path answers 404) passes nothing:
// exit status 2, with the warning.
func TestUntestedIsNotAPass(t *testing.T) {
	code, stdout, stderr := probeRun(t, "--quiet", "--busy", "4", "--busy-path", "/no-such-path", "--slow", "0", "--idle", "0", "--silent", "2", "--warmup", "500ms",
		"--", server(t, "good"))
	if code != exitUsage {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
	}
	if !strings.Contains(stdout, "got no 2xx answer") {
		t.Errorf("the report lacks the warning:\n%s", stdout)
	}
}

// A command that daemonizes (starts the real server in the background and
// exits 0) leaves nothing drainprobe can judge: it says so, exit status 2,
// with the daemon's PID and how to probe it instead, prints the command's
// output once, and leaves no process of it running, whether the daemon
// escaped into a session of its own or stayed in the command's process
// group. Each runs as drainprobe's main runs it, a child subreaper, and
// without (as a program that embeds the probe may).
func TestDaemonizingServer(t *testing.T) {
	good, daemon := server(t, "good"), server(t, "daemon")
	for _, subreaper := range []bool{false, true} {
		if subreaper {
			// As main does; process-wide and for good, hence last.
			if err := probe.BecomeSubreaper(); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name    string
			bin     string   // the program that serves
			command []string // the command that starts it
			said    string   // what the command prints, before the daemon's PID
		}{
			{"setsid", daemon, []string{daemon}, "daemon: serving in the background as process "},
			{"shell", good, []string{"sh", "-c", good + ` & echo "started process $!"; exit 0`}, "started process "},
		} {
			t.Run(fmt.Sprintf("%s/subreaper=%v", tc.name, subreaper), func(t *testing.T) {
				args := append([]string{"--quiet", "--busy", "2", "--slow", "0", "--idle", "1", "--silent", "1", "--warmup", "500ms", "--"}, tc.command...)
				code, stdout, stderr := probeRun(t, args...)
				if code != exitUsage {
					t.Errorf("exit %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
				}
				if n := strings.Count(stderr, tc.said); n != 1 {
					t.Errorf("the command's output is printed %d times, want once:\n%s", n, stderr)
				}
				var pid int
				if i := strings.Index(stderr, tc.said); i >= 0 {
					fmt.Sscan(stderr[i+len(tc.said):], &pid)
				}
				first, _, _ := strings.Cut(stderr, "\n")
				for _, want := range []string{"daemonized", fmt.Sprintf(`process %d\b`, pid), "--target", "--pid", "foreground"} {
					if !regexp.MustCompile(want).MatchString(first) {
						t.Errorf("drainprobe's message lacks %q:\n%s", want, stderr)
					}
				}
				if pids := running(t, tc.bin); len(pids) > 0 {
					t.Errorf("the daemon is still running: pids %v", pids)
				}
				switch {
				case pid == 0:
				case subreaper:
					// Reaped by drainprobe: not even a zombie is left, so
					// signal 0 fails.
					if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
						t.Errorf("the daemon (pid %d) is still there after the probe returned: %v", pid, err)
					}
				default:
					// Dead, and init's to reap.
					if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !regexp.MustCompile(`\) [ZX] `).Match(st) {
						t.Errorf("the daemon (pid %d) is alive after the probe returned: %s", pid, st)
					}
				}
			})
		}
	}
}
