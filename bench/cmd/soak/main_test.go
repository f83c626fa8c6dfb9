//go:build unix

package main

import (
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSoak runs a short soak of the seed demo in each of drain's modes:
// no drain may go bad (exit 0 with a lost request, hang, panic, untruthful
// exit). It takes 10-20 s (5-10 s with -short) on a 2-core machine.
func TestSoak(t *testing.T) {
	seed := buildSeed(t)
	drains := 4
	if testing.Short() {
		drains = 2
	}
	targets, err := selectTargets([]server{{name: "drain", args: []string{seed}, drain: true}}, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &soakConfig{
		targets:      targets,
		drains:       drains,
		seed:         uint64(time.Now().UnixNano()),
		signalWithin: 600 * time.Millisecond,
		parallel:     1,
		drain: drainConfig{
			timeout:   defaultTimeout,
			hangAfter: defaultTimeout + hangMargin,
			load:      loadConfig{busy: 4, storm: 2, timeout: 15 * time.Second},
		},
	}
	t.Logf("seed %#x", cfg.seed)
	results := soak(t.Context(), cfg, &progress{w: io.Discard, began: time.Now()})
	for i, target := range targets {
		s := summarize(target, results[i])
		if s.drains != drains {
			t.Errorf("%s: %d of %d drains counted", target, s.drains, drains)
		}
		for _, r := range s.bad {
			t.Errorf("bad drain: %s\n  again: bench/soak.sh %s\n  the server's output ends with:\n%s", describe(r), replayFlags(cfg, r), lastLines(r.output, 30))
		}
		t.Logf("%s: %d answered (%d 503), %d lost, signal -> exit %v", target, s.load.answered, s.load.unavailable, s.load.lost, s.signalToExit)
	}
}

// buildSeed builds the seed demo, examples/seed, and returns its path.
func buildSeed(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the seed demo: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "seed")
	cmd := exec.CommandContext(t.Context(), gobin, "build", "-o", bin, "github.com/drain-go/drain/examples/seed")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build examples/seed: %v\n%s", err, out)
	}
	return bin
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{
		nil, // no server
		{"-server", "drain=/bin/true", "-drains", "0"},
		{"-server", "drain=/bin/true", "-parallel", "9"},
		{"-server", "drain=/bin/true", "-modes", "nope"},
		{"-server", "drain=/bin/true", "-timeout", "0s"},
		{"-server", "drain=/bin/true", "extra"},
		{"-drain-seed", "x"},
	} {
		var stderr strings.Builder
		if got := run(args, io.Discard, &stderr); got != 2 {
			t.Errorf("run(%q) = %d, want 2", args, got)
		}
		if !strings.Contains(stderr.String(), "usage") && !strings.Contains(stderr.String(), "invalid") {
			t.Errorf("run(%q) printed no usage: %q", args, stderr.String())
		}
	}
}

// lastLines returns the last n lines of out, indented.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return "    " + strings.Join(lines, "\n    ")
}
