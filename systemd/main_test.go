package systemd

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv set in the environment makes the test binary act as the child
// process of the socket activation test (see childMain).
const childEnv = "DRAIN_SYSTEMD_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m)
}
