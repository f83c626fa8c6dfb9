package proc

import "crypto/rand"

// serverEnv names the environment variable that marks the server and every
// process it starts: Start sets it to a value of its own for each
// server, and Server.Close kills whatever still carries it.
const serverEnv = "DRAINPROBE_SERVER"

// A family is how the probe finds the processes a server started, to kill
// them with it: its process group, which the leader heads, holds those
// that stayed in it; the mark in their environment, inherited across fork
// and exec, finds those that left the group (a daemon calls setsid), even
// once reparented; and the descendants of either. Only processes started
// no earlier than the leader count, so a pid reused by an older process,
// or the probe's own ancestors, never do. A process that both left the
// group and cleared its environment escapes it.
type family struct {
	leader int    // the server's pid, which leads its process group
	mark   string // serverEnv=value, in the environment of each
	born   uint64 // the leader's start, in clock ticks after boot; 0 if unknown
}

// newMark returns a new serverEnv=value entry, for one server.
func newMark() string { return serverEnv + "=" + rand.Text() }
