// Package proc starts, signals and watches the server process the probe
// measures, and guarantees that nothing it started outlives the probe:
// once [Server.Close] returns, the server, every process it started and
// their orphans are dead (and reaped, with [BecomeSubreaper]).
//
//	s, err := proc.Start(ctx, proc.Command{Args: []string{"./server", "-addr", ":{port}"}}, false)
//	if err != nil {
//		return err // ErrExited, ErrNotListening, a *DaemonError...
//	}
//	defer s.Close()
//	s.Signal(syscall.SIGTERM)
//	<-s.Done()
//	fmt.Println(s.Exit()) // "0", "143 (SIGTERM)", "137 (killed by the probe)"
//
// It does not load the server, nor judge how it ends: that is package
// probe's business. It needs Linux for all it does; elsewhere it finds a
// server's family by its process group only, and cannot [Watch] or
// [Follow] a process it did not start.
//
// # What the server starts
//
// The server runs in a process group of its own, with DRAINPROBE_SERVER
// set in its environment to a value of the probe's. [Server.Close] kills
// the group, and on Linux every process that carries that mark (one that
// left the group: a daemon calls setsid) and their descendants, and waits
// until each has exited. A command that daemonizes (starts the server in
// the background and exits) cannot be probed: [Start] or
// [Server.ExitedEarly] returns a [*DaemonError] naming the process that
// listens on the port, found from its socket in /proc. A program that
// calls [BecomeSubreaper] once at its start also inherits the orphans
// among those, and Close reaps them.
//
// # Processes the probe did not start
//
// [Watch] watches a process through a pidfd: its exit is seen at once,
// though not its exit code, and signals cannot reach another process that
// reused its pid. [Follow] watches a process that an upgrade started, and
// once its parent has exited reaps it as a child subreaper, to learn how
// it ended.
package proc
