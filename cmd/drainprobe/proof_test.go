package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
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
		for _, s := range []string{"naive", "stdlib", "hang", "exitone", "good", "quitter", "halfclose"} {
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
			got := reasons(report(t, stdout))
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
func reasons(v *view) []string {
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
	got := reasons(report(t, stdout))
	if !slices.Contains(got, "served-after-exit") {
		t.Errorf("reasons %v lack served-after-exit", got)
	}
	if pids := running(t, bin); len(pids) > 0 {
		t.Errorf("the wrapped server is still running: pids %v", pids)
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
