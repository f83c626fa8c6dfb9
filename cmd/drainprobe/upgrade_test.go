package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drain-go/drain/internal/probe"
	"github.com/drain-go/drain/internal/probe/report"
)

// upgradeReport is what the tests read of an upgrade run's --json report.
type upgradeReport struct {
	jsonReport
	Upgrades []struct {
		OldPID  int `json:"old_pid"`
		NewPID  int `json:"new_pid"`
		OldExit *struct {
			Code int `json:"code"`
		} `json:"old_exit"`
		Refused       int `json:"refused"`
		Lost          int `json:"lost"`
		LostReused    int `json:"lost_reused"`
		SlowSent      int `json:"slow_sent"`
		SlowCompleted int `json:"slow_completed"`
	} `json:"upgrades"`
}

// Upgrade runs, with real processes and real signals: drain's demo
// upgrades three times under load and passes; a server that upgrades in
// tableflip's documented pattern loses about a request per busy keep-alive
// client at each upgrade; one whose new release fails at start never
// changes its PID. drainprobe is a child subreaper, as its main makes it,
// to reap the old processes; that is process-wide and for good, so these
// tests come after TestDaemonizingServer, which runs without it first.
func TestUpgrades(t *testing.T) {
	if err := probe.BecomeSubreaper(); err != nil {
		t.Skip(err)
	}
	const busy = 6
	load := []string{"--json", "--upgrades", "3", "--upgrade-interval", "1500ms", "--busy", fmt.Sprint(busy), "--conns", "2",
		"--slow", "2", "--slow-path", "/slow?ms=1200", "--idle", "2", "--silent", "3", "--warmup", "800ms"}
	flipper := server(t, "flipper")
	for _, tc := range []struct {
		name    string
		command []string // none: the demo
		args    []string
		want    []string // reasons it must fail for; none: PASS
		never   []string
		changed bool     // every upgrade changed the PID
		lost    [2]int   // lost at each upgrade, at least and at most
		texts   []string // the verdict must say
	}{
		{name: "demo", changed: true},
		{name: "tableflip-pattern", command: []string{flipper}, args: []string{"--silent", "0"},
			want: []string{"lost"}, never: []string{"refused", "upgrade-pid", "upgrade-exit", "slow-incomplete"},
			changed: true, lost: [2]int{1, 3 * busy}, texts: []string{"at upgrade 1", "at upgrade 2", "at upgrade 3", "on reused keep-alive connections"}},
		{name: "broken-release", command: []string{"env", "FLIPPER_BROKEN=1", flipper}, args: []string{"--silent", "0", "--upgrade-timeout", "2s"},
			want: []string{"upgrade-pid"}, never: []string{"refused", "upgrade-exit", "slow-incomplete"},
			texts: []string{"upgrade 1: the PID did not change within 2s", "upgrade 3: the PID did not change within 2s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(slices.Clone(load), tc.args...)
			if tc.command != nil {
				args = append(append(args, "--pidfile", filepath.Join(t.TempDir(), "pid"), "--"), tc.command...)
			}
			code, stdout, stderr := probeRun(t, args...)
			wantCode := exitFail
			if tc.want == nil {
				wantCode = exitPass
			}
			if code != wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, wantCode, stdout, stderr)
			}
			var v upgradeReport
			decode(t, stdout, &v)
			got := reasons(&v.jsonReport)
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
			for _, want := range tc.texts {
				if !slices.ContainsFunc(v.Verdict.Reasons, func(f report.Finding) bool { return strings.Contains(f.Text, want) }) {
					t.Errorf("no reason says %q: %+v", want, v.Verdict.Reasons)
				}
			}
			if len(v.Upgrades) != 3 {
				t.Fatalf("%d upgrades in the report, want 3", len(v.Upgrades))
			}
			seen := map[int]bool{}
			for i, u := range v.Upgrades {
				if seen[u.OldPID] && tc.changed {
					t.Errorf("upgrade %d: old PID %d served before", i+1, u.OldPID)
				}
				seen[u.OldPID] = true
				switch {
				case !tc.changed && u.NewPID != 0:
					t.Errorf("upgrade %d: new PID %d, want none", i+1, u.NewPID)
				case tc.changed && (u.NewPID == 0 || u.NewPID == u.OldPID):
					t.Errorf("upgrade %d: PID %d -> %d", i+1, u.OldPID, u.NewPID)
				case tc.changed && (u.OldExit == nil || u.OldExit.Code != 0):
					t.Errorf("upgrade %d: old process %d exit %+v, want 0", i+1, u.OldPID, u.OldExit)
				}
				if u.Refused != 0 || u.Lost < tc.lost[0] || u.Lost > tc.lost[1] {
					t.Errorf("upgrade %d: %d refused, %d lost; want 0 refused, %d to %d lost", i+1, u.Refused, u.Lost, tc.lost[0], tc.lost[1])
				}
				if u.SlowSent != 2 || u.SlowCompleted != 2 {
					t.Errorf("upgrade %d: %d of %d slow requests answered, want 2 of 2", i+1, u.SlowCompleted, u.SlowSent)
				}
			}
			if v.Exit == nil || v.Exit.Code != 0 {
				t.Errorf("the last process's exit %+v, want 0", v.Exit)
			}
			if pids := running(t, flipper); len(pids) > 0 {
				t.Errorf("processes of the server still running: %v", pids)
			}
		})
	}
}

// --upgrades needs a PID file but for the demo, and flags of its own need
// it; the two signals must differ.
func TestUpgradeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--upgrades", "2", "--", "./server"}, "--upgrades needs --pidfile"},
		{[]string{"--pidfile", "/tmp/x", "--", "./server"}, "--pidfile needs --upgrades"},
		{[]string{"--upgrades", "2", "--upgrade-signal", "TERM"}, "both SIGTERM"},
		{[]string{"--upgrades", "-1"}, "want 0 or more"},
		{[]string{"--upgrades", "1", "--upgrade-interval", "-1s"}, "--upgrade-interval"},
		{[]string{"--upgrades", "1", "--signal-group"}, "--signal-group with --upgrades"},
	} {
		code, _, stderr := probeRun(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s", tc.args, code, exitUsage, tc.want, stderr)
		}
	}
}

// decode decodes a --json report into v.
func decode(t *testing.T, stdout string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, stdout)
	}
}
