// Package probe measures how a server process shuts down: it starts the
// server as a child process, loads it over raw HTTP/1.1 on loopback, sends
// it a signal, keeps the load going until the process exits, and reports
// what became of every request, with its time relative to the signal.
//
//	rep, err := probe.Run(ctx, probe.Config{
//		Server: probe.Command{Args: []string{"./server", "-addr", ":{port}"}},
//		Load:   probe.Load{Busy: 16, Slow: 3, SlowPath: "/slow?ms=2000"},
//		Warmup: 1800 * time.Millisecond,
//	})
//	if err != nil {
//		return err
//	}
//	fmt.Print(rep) // lost requests, exit code, last response -> exit, ...
//
// The probe never retries, so every loss is visible. It is bounded: it
// opens a fixed number of connections, talks only to the loopback
// interface, and kills the server if it has not exited within a grace
// period after the signal. The server process is always killed and
// reaped before [Run] returns, whatever happened.
//
// # The run
//
//  1. [Start] picks a free loopback port, starts the server with PORT set
//     in its environment and "{port}" replaced in its arguments, and waits
//     until it accepts a TCP connection.
//  2. The idle connections are opened (each sends one request, then stays
//     quiet), then the silent sockets (connected, nothing sent).
//  3. The busy clients and the slow requests start; Warmup later, the
//     probe sends the signal.
//  4. The load goes on until the process exits: busy clients that are told
//     "Connection: close" reconnect, and stop once a new connection is
//     refused. If the process has not exited KillAfter after the signal,
//     it gets SIGKILL.
//
// # What becomes of a request
//
// Every request ends in one [Outcome]:
//
//   - [Answered]: a complete response was read, whatever its status.
//   - [Refused]: the connection could not be established (refused, reset
//     or timed out during connect), so nothing was sent. For a single
//     instance whose listener has closed this is expected: a client, or a
//     load balancer, can safely try elsewhere.
//   - [Lost]: the request was written on an established connection and no
//     complete response came back: the connection was closed or reset under
//     it (a reused keep-alive connection, or a fresh one reset after the
//     connect succeeded), the response timed out, or its body was cut
//     short. A client cannot know whether the server acted on it.
//   - [Aborted]: the probe itself gave up on it at the end of the run; not
//     the server's doing.
//
// # Timing
//
// All times are taken by the probe on one monotonic clock: when it sent the
// signal, when it read the last complete response, and when waiting for the
// process returned. "last response -> exit" is how long the server stayed
// alive once it had nothing left to answer; "signal -> exit" is the whole
// shutdown. The probe also reports the rate its busy clients achieved
// before the signal and how late it sent the signal, to show whether it
// kept up with the server on a small machine.
package probe
