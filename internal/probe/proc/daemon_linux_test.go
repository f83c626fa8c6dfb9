package proc

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

// A command that exits 0 leaving a process that never listens is a server
// that exited: once the listen timeout has passed, and what it left is
// killed.
func TestStartExitedLeavingNoServer(t *testing.T) {
	c := childCommand("deaf")
	c.Args = []string{"sh", "-c", `"$0" </dev/null >/dev/null 2>&1 & echo "started $!"; exit 0`, os.Args[0]}
	c.ListenTimeout = 500 * time.Millisecond
	_, err := Start(context.Background(), c, false)
	var de *DaemonError
	if !errors.Is(err, ErrExited) || errors.As(err, &de) || !strings.Contains(err.Error(), "did not serve") {
		t.Fatalf("error %v, want ErrExited, not a DaemonError", err)
	}
	var left int
	if i := strings.Index(err.Error(), "["); i >= 0 {
		fmt.Sscan(err.Error()[i+1:], &left)
	}
	if left == 0 {
		t.Fatalf("error %q does not name what the command left", err)
	}
	if st := testchild.ProcState(left); st != "" && st != "Z" {
		t.Errorf("process %d is in state %s after Start returned; want it dead", left, st)
	}
}
