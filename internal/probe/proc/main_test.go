package proc

import (
	"testing"

	"github.com/drain-go/drain/internal/probe/internal/testchild"
)

func TestMain(m *testing.M) { testchild.Main(m) }

// childCommand runs the test binary as a child server in mode (see testchild).
func childCommand(mode string, args ...string) Command {
	return Command{Args: testchild.Args(args...), Env: testchild.Env(mode), ListenTimeout: testchild.ListenTimeout}
}
