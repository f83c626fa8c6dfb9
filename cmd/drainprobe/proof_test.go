package main

import (
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
		for _, s := range []string{"naive", "stdlib", "hang", "exitone", "good", "quitter"} {
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
			v := report(t, stdout)
			var got []string
			for _, r := range v.Verdict.Reasons {
				got = append(got, r.Code)
			}
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
