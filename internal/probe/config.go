package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
	"github.com/drain-go/drain/internal/probe/report"
)

// Defaults for the fields of [Config].
const (
	DefaultWarmup    = time.Second
	DefaultKillAfter = 30 * time.Second
)

// Config describes one run of the probe. The zero value of each field
// means its default; Server.Args or Target is required.
//
// A run is in one of three modes:
//
//   - Server.Args set: the probe starts the server, signals it after the
//     warm-up, and watches it exit (the default mode).
//   - Target and PID set: the server runs already; the probe loads it at
//     Target, signals process PID after the warm-up and watches it exit.
//   - Target set, PID zero: the probe loads Target for Duration and sends
//     no signal; times are relative to the load's start.
type Config struct {
	// Server is the server to start. Required unless Target is set.
	Server Command

	// Target is the address of a server already running, as
	// "http://host:port" or "host:port": the probe starts no process and
	// loads the server there, loopback or not (the load is bounded all
	// the same). Its Host header is Target's host. Of Server, only
	// ReadyPath and ListenTimeout apply: the probe waits until Target
	// serves before it opens anything.
	Target string

	// PID is the process to signal after the warm-up, in target mode
	// only. The probe watches it exit through a pidfd (Linux); not being
	// its parent, it cannot learn its exit code ([Exit.Unknown]). It
	// sends SIGKILL KillAfter after the signal, as to its own child, but
	// leaves it alone if ctx ends. An upgrade run needs none: the PID
	// file names the process ([Upgrades.PIDFile]).
	PID int

	// Duration is how long the load runs in target mode without a PID,
	// where no signal is sent (send one yourself meanwhile). Required
	// then, and only then.
	Duration time.Duration

	// Load is the load to put on the server.
	Load Load

	// Upgrades, with a Count, makes the run an upgrade run: the server
	// upgrades itself that many times under the load before the shutdown
	// signal. See [Upgrades].
	Upgrades Upgrades

	// Warmup is how long the busy clients and the slow requests run
	// before the signal. Idle connections, silent sockets and streams are
	// opened before the warm-up begins, so they have been open at least
	// this long at the signal. Defaults to [DefaultWarmup]. Not used
	// without a signal.
	Warmup time.Duration

	// Signal is the signal sent after the warm-up. Defaults to SIGTERM.
	// Not used without a signal.
	Signal os.Signal

	// SignalGroup sends Signal to the server's process group, the command
	// and every process it started, as a terminal's Ctrl+C does, rather
	// than to the command's process alone. For a server the probe starts
	// (in a process group of its own): not in target mode.
	SignalGroup bool

	// KillAfter is how long the process may take to exit after the signal
	// before the probe sends it SIGKILL. Defaults to [DefaultKillAfter].
	// Not used without a signal.
	KillAfter time.Duration

	// MaxExitLag is how long the process may live on once it has nothing
	// left to answer (the signal, or its last response, every slow
	// request done): the verdict fails one that lives longer
	// ([report.CodeExitLag]). As long after that, the probe closes the idle
	// connections and silent sockets still open, to see whether the
	// server was waiting for them: one that exits at once then was
	// ([report.Report.QuietClosedAt], [report.CodeHeldSockets]). Defaults to
	// [report.DefaultMaxExitLag].
	MaxExitLag time.Duration

	// HoldQuiet keeps the idle connections and silent sockets open until
	// the process exits, as clients that never give up would, rather than
	// closing them after MaxExitLag: for measuring how long a server
	// holds such clients. The verdict then cannot tell a server waiting
	// for them from one lingering for another reason, and does not say
	// [report.CodeHeldSockets].
	HoldQuiet bool

	// MaxRecords bounds the records of note kept in the report; beyond
	// it they are only counted. Defaults to [DefaultMaxRecords].
	MaxRecords int

	// Progress, if set, is called about every 100 ms (progressInterval) with a
	// snapshot of the run, from one goroutine of its own, and a last time
	// before Run returns. A slow call delays the next one, not the run. A
	// panic in it ends the calls and is returned by Run as an error.
	Progress func(Progress)
}

// A resolved config has its defaults filled in and has been checked.
type resolved struct {
	Config
	addr, host string // of the target, in target mode
}

// signalled reports whether the run sends a signal.
func (c *resolved) signalled() bool { return c.Target == "" || c.PID != 0 || c.upgrading() }

// upgrading reports whether the run is an upgrade run.
func (c *resolved) upgrading() bool { return c.Upgrades.Count > 0 }

// resolve checks the config and fills in its defaults.
func (c Config) resolve() (*resolved, error) {
	// A negative duration is a mistake, never a request for the default.
	var negative []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Warmup", c.Warmup}, {"KillAfter", c.KillAfter}, {"Duration", c.Duration}, {"MaxExitLag", c.MaxExitLag},
		{"Load.RequestTimeout", c.Load.RequestTimeout}, {"Server.ListenTimeout", c.Server.ListenTimeout},
		{"Upgrades.Interval", c.Upgrades.Interval}, {"Upgrades.Timeout", c.Upgrades.Timeout},
	} {
		if d.v < 0 {
			negative = append(negative, fmt.Errorf("negative %s %v", d.name, d.v))
		}
	}
	if err := errors.Join(negative...); err != nil {
		return nil, fmt.Errorf("probe: invalid config: %w", err)
	}
	if strings.HasPrefix(c.Target, "https://") {
		c.Load.TLS = true
	}
	r := &resolved{Config: c}
	r.Load = withDefaults(c.Load)
	if err := validate(r.Load); err != nil {
		return nil, fmt.Errorf("probe: invalid load: %w", err)
	}
	if r.Warmup <= 0 {
		r.Warmup = DefaultWarmup
	}
	if r.Signal == nil {
		r.Signal = syscall.SIGTERM
	}
	if r.KillAfter <= 0 {
		r.KillAfter = DefaultKillAfter
	}
	if r.MaxExitLag <= 0 {
		r.MaxExitLag = report.DefaultMaxExitLag
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u := c.Upgrades; u.Count != 0 {
		r.Upgrades = u.withDefaults()
		switch {
		case !proc.FollowSupported:
			bad("Upgrades need Linux (pidfds, and a child subreaper)")
		case u.Count < 0:
			bad("negative Upgrades.Count %d", u.Count)
		case u.PIDFile == "":
			bad("Upgrades without a PIDFile: the probe learns from it which process serves")
		case r.Upgrades.Signal == r.Signal:
			bad("the upgrade signal and the shutdown signal are both %s", proc.SignalName(r.Signal))
		case c.SignalGroup:
			bad("SignalGroup with Upgrades: the old processes, draining, are in the group too")
		case c.Duration != 0:
			bad("Duration with Upgrades: the run ends when the last process exits")
		}
	}
	if c.Target == "" {
		switch {
		case len(c.Server.Args) == 0:
			return nil, errors.New("probe: no server command: set Server.Args, or Target")
		case c.PID != 0:
			bad("PID is for target mode: the probe signals the server it starts itself")
		case c.Duration != 0:
			bad("Duration is for target mode without PID: the run ends when the server exits")
		}
	} else {
		var err error
		if r.addr, r.host, err = parseTarget(c.Target); err != nil {
			bad("%w", err)
		}
		s := c.Server
		if len(s.Args) > 0 || len(s.Env) > 0 || s.Dir != "" || s.Output != nil {
			bad("Target and Server.Args (or Env, Dir, Output) exclude each other: the probe starts no process in target mode")
		}
		switch {
		case c.SignalGroup:
			bad("SignalGroup is for a server the probe starts, in a process group of its own: not in target mode")
		case c.PID < 0:
			bad("negative PID %d", c.PID)
		case c.PID == os.Getpid():
			bad("PID %d is the probe's own", c.PID)
		case c.PID != 0 && c.Duration != 0:
			bad("Duration is for target mode without PID: with one, the run ends when the process exits")
		case c.PID == 0 && c.Duration <= 0 && !r.upgrading():
			bad("target mode without PID needs a positive Duration: no signal is sent, the load runs that long")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("probe: invalid config: %w", err)
	}
	return r, nil
}

// parseTarget parses [Config.Target] into the address to dial and the
// Host header.
func parseTarget(target string) (addr, host string, err error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		// host:port, which url.Parse takes for a scheme and an opaque part.
		if _, _, err := net.SplitHostPort(target); err != nil {
			return "", "", fmt.Errorf("target %q: want http://host[:port] or host:port", target)
		}
		return target, target, nil
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", fmt.Errorf("target %q: only http:// and https:// are supported", target)
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return "", "", fmt.Errorf("target %q: give no path (the paths are in Load)", target)
	case u.User != nil:
		return "", "", fmt.Errorf("target %q: give no user information", target)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port), u.Host, nil
}
