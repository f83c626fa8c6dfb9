package proc

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/drain-go/drain/internal/probe/internal/testchild"
)

// Close kills what the server started, whether it stayed in the server's
// process group or escaped it into a session of its own, with a parent
// that stays or one that exits at once (a double fork), and with the
// probe a child subreaper reaps it. It never takes the server's own exit
// status from os/exec.
func TestCloseKillsWhatTheServerStarted(t *testing.T) {
	for _, subreaper := range []bool{false, true} {
		if subreaper {
			testchild.AsSubreaper(t)
		}
		for _, tc := range []struct{ name, script string }{
			{"same group", `PROBE_TEST_CHILD=deaf "$0" & exec "$0"`},
			{"new session", `PROBE_TEST_CHILD=deaf setsid "$0" & exec "$0"`},
			{"double fork", `PROBE_TEST_CHILD=deaf setsid -f "$0"; exec "$0"`},
		} {
			t.Run(fmt.Sprintf("%s/subreaper=%v", tc.name, subreaper), func(t *testing.T) {
				c := childCommand("graceful")
				c.Args = []string{"sh", "-c", tc.script, os.Args[0]}
				p, err := Start(context.Background(), c, false)
				if err != nil {
					t.Fatal(err)
				}
				left := p.fam.alive()
				if len(left) == 0 {
					p.Close()
					t.Fatal("the family of the server is empty")
				}
				p.Close()
				if e := p.Exit(); e.Signal != syscall.SIGKILL || !e.Killed || e.Err != nil {
					t.Errorf("the server's exit %+v, want killed by the probe", e)
				}
				for _, pid := range left {
					if st := testchild.ProcState(pid); st != "" && (subreaper || st != "Z") {
						t.Errorf("process %d is in state %s after Close; want it gone%s", pid, st, map[bool]string{false: ", or a zombie for init"}[subreaper])
					}
				}
				if left := p.fam.alive(); len(left) > 0 {
					t.Errorf("processes %v still carry the server's mark", left)
				}
			})
		}
	}
}
