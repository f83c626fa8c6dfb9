package probe

import "github.com/drain-go/drain/internal/probe/proc"

// The server under test, as package proc starts and watches it.
type (
	// A Command describes how to start the server under test.
	Command = proc.Command
	// Exit describes how a process ended.
	Exit = proc.Exit
	// A DaemonError reports that the server command daemonized.
	DaemonError = proc.DaemonError
)

// DefaultListenTimeout is how long the probe waits for the server to be
// ready. See [Command.ListenTimeout].
const DefaultListenTimeout = proc.DefaultListenTimeout

var (
	// ErrExited reports that the server process exited when the probe
	// needed it running: before it listened, or before the signal.
	ErrExited = proc.ErrExited
	// ErrNotListening reports that the server did not accept a connection
	// within [Command.ListenTimeout].
	ErrNotListening = proc.ErrNotListening
)

// BecomeSubreaper makes the calling process a child subreaper, so that
// the probe reaps what a server it starts leaves behind, and can follow
// an upgrade run's processes: call it once, at the start of a program
// that probes servers, as drainprobe's main does. See
// [proc.BecomeSubreaper].
func BecomeSubreaper() error { return proc.BecomeSubreaper() }
