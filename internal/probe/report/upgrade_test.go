package report

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// The verdict of an upgrade run names each upgrade that went wrong, and
// how; the report's per-upgrade counts come from the records.
func TestJudgeUpgrades(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ok := func(n int) Upgrade {
		return Upgrade{SignalAt: at(n * 1000), OldPID: 100 + n, NewPID: 101 + n, NewAt: at(n*1000 + 50), OldExit: proc.Exit{At: at(n*1000 + 80)}}
	}
	for _, tc := range []struct {
		name  string
		edit  func(r *Report)
		codes []string
		text  string
	}{
		{"clean", func(r *Report) {}, nil, ""},
		{"no new PID", func(r *Report) {
			r.Upgrades[1].NewPID, r.Upgrades[1].NewAt, r.Upgrades[1].OldExit = 0, time.Time{}, proc.Exit{}
		},
			[]string{CodeUpgradePID}, "upgrade 2: the PID did not change within 30s"},
		{"old exit 1", func(r *Report) { r.Upgrades[0].OldExit.Code = 1 }, []string{CodeUpgradeExit}, "upgrade 1: old process 101 exited 1"},
		{"old killed", func(r *Report) { r.Upgrades[2].OldExit = proc.Exit{At: at(3100), Code: -1, Signal: syscall.SIGKILL} },
			[]string{CodeUpgradeExit}, "upgrade 3: old process 103 was ended by SIGKILL (exit 137)"},
		{"old never exited", func(r *Report) { r.Upgrades[2].OldExit = proc.Exit{} }, []string{CodeUpgradeExit}, "upgrade 3: old process 103 had not exited 30s"},
		{"service down", func(r *Report) {
			r.Upgrades[1].NewPID, r.Upgrades[1].NewAt = 0, time.Time{}
			r.Upgrades[1].OldExit = proc.Exit{At: at(2010), Code: -1, Signal: syscall.SIGHUP}
		}, []string{CodeUpgradePID}, "no new process took over"},
		{"lost at an upgrade", func(r *Report) {
			for i := range 16 {
				r.Records = append(r.Records, Record{Kind: Busy, Client: i, Seq: 9, Outcome: Lost, Reason: Reason("closed before response"), Sent: at(3001), Done: at(3002)})
			}
		}, []string{CodeLost}, "16 requests lost on reused keep-alive connections at upgrade 3"},
		{"refused at an upgrade", func(r *Report) {
			r.Records = append(r.Records, Record{Kind: Conn, Outcome: Refused, Reason: Reason("connect refused"), Sent: at(1001), Done: at(1001)})
		}, []string{CodeRefused}, "1 connection refused at upgrade 1"},
		{"slow cut at an upgrade", func(r *Report) {
			r.Records[2].Outcome, r.Records[2].Status, r.Records[2].Reason = Lost, 0, Reason("closed before response")
		}, []string{CodeLost, CodeSlowIncomplete}, "upgrade 3: 1 of 1 slow requests in flight at it not answered 2xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{
				Load: Load{Busy: 16, Slow: 1}, Signal: syscall.SIGTERM, SignalAt: at(4000), Start: at(0),
				Exit: proc.Exit{At: at(4010)}, LastResponse: at(4009), BusyRate: 1000, busyOKBefore: 1000,
				Upgrades: []Upgrade{ok(1), ok(2), ok(3)}, UpgradeSignal: syscall.SIGHUP, UpgradeTimeout: 30 * time.Second, PIDFile: "/run/x.pid",
			}
			for b := range 4 { // a slow request in flight at each signal, answered
				r.Records = append(r.Records, Record{Kind: Slow, Client: b, Seq: 1, Outcome: Answered, Status: 200, Sent: at(b*1000 + 500), Done: at(b*1000 + 1500)})
			}
			r.Slow = Counts{Status: [6]int{2: 4}}
			tc.edit(r)
			r.countUpgrades()
			v := r.Judge(0)
			got := findingCodes(v.Reasons)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.codes))
			if !slices.Equal(got, want) {
				t.Errorf("reasons %q, want %q:\n%s", got, want, v)
			}
			if tc.text != "" && !slices.ContainsFunc(v.Reasons, func(f Finding) bool { return strings.Contains(f.Text, tc.text) }) {
				t.Errorf("no reason says %q:\n%s", tc.text, v)
			}
		})
	}
}
