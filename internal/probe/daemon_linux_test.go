package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/internal/testchild"
)

// A command that daemonizes cannot be probed: Run says so with a
// DaemonError naming the daemon, its output is in the report and not in
// the error, and the daemon is killed before Run returns; reaped too if
// the probe is a child subreaper.
func TestRunDaemonized(t *testing.T) {
	for _, subreaper := range []bool{false, true} {
		if subreaper {
			testchild.AsSubreaper(t)
		}
		cases := []struct{ name, script string }{
			// The server stays in the command's process group, and holds
			// its output: the exit is seen at the signal.
			{"background", `"$0" & echo "started $!"; exit 0`},
			// In a session of its own, its output detached: the exit is
			// seen at once, most likely before it listens.
			{"setsid", `setsid "$0" </dev/null >/dev/null 2>&1 & echo "started $!"; exit 0`},
			// Listens only once the command is long gone.
			{"late", `(sleep 0.3; exec "$0") </dev/null >/dev/null 2>&1 & echo "started $!"; exit 0`},
		}
		if subreaper {
			// In a session of its own, without the probe's mark (as nginx,
			// which writes its process title over its environment): found
			// as the probe's orphan only.
			cases = append(cases, struct{ name, script string }{"setsid, no mark",
				`env -i PATH="$PATH" PORT="$PORT" ` + testchild.ModeEnv + `=graceful GORACE="$GORACE" setsid "$0" </dev/null >/dev/null 2>&1 & echo "started $!"; exit 0`})
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/subreaper=%v", tc.name, subreaper), func(t *testing.T) {
				c := childCommand("graceful")
				c.Args = []string{"sh", "-c", tc.script, os.Args[0]}
				rep, err := Run(context.Background(), Config{Server: c, Load: Load{Busy: 1}, Warmup: 300 * time.Millisecond})
				var de *DaemonError
				if !errors.As(err, &de) || !errors.Is(err, ErrExited) {
					t.Fatalf("error %v, want a DaemonError, wrapping ErrExited", err)
				}
				var started int
				fmt.Sscanf(de.Output, "started %d", &started)
				if de.PID != started || de.PID == 0 || de.Exit.Code != 0 || !strings.HasPrefix(de.Addr, "127.0.0.1:") {
					t.Errorf("%+v, want the daemon %d, exit 0", de, started)
				}
				if !strings.Contains(err.Error(), fmt.Sprint("process ", de.PID)) || strings.Contains(err.Error(), fmt.Sprint("started ", started)) {
					t.Errorf("error %q: want the daemon's pid, and not the output", err)
				}
				if rep != nil && !strings.Contains(rep.Output, "started") {
					t.Errorf("the report's output %q lacks the command's", rep.Output)
				}
				if st := testchild.ProcState(de.PID); st != "" && (subreaper || st != "Z") {
					t.Errorf("the daemon %d is in state %s after Run returned; want it gone%s", de.PID, st, map[bool]string{false: ", or a zombie for init"}[subreaper])
				}
			})
		}
	}
}
