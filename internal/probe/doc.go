// Package probe measures how a server process shuts down: it starts the
// server as a child process, loads it over raw HTTP/1.1 on loopback, sends
// it a signal, keeps the load going until the process exits, and reports
// what became of every request, with its time relative to the signal, and
// whether the shutdown passes.
//
//	rep, err := probe.Run(ctx, probe.Config{
//		Server: probe.Command{Args: []string{"./server", "-addr", ":{port}"}},
//		Load:   probe.Load{Busy: 16, Slow: 3, SlowPath: "/slow?ms=2000", Silent: 20},
//		Warmup: 1800 * time.Millisecond,
//	})
//	if err != nil {
//		return err
//	}
//	fmt.Print(rep)         // lost requests, exit code, last response -> exit, ...
//	fmt.Print(rep.Verdict) // PASS, or FAIL and why
//
// The probe never retries, so every loss is visible. It is bounded: it
// opens a fixed number of connections, talks only to the loopback
// interface unless given a target, and kills the server if it has not
// exited within a grace period after the signal. The server process is
// always killed and reaped, every connection closed and every goroutine
// ended before [Run] returns, whatever happened.
//
// # The run
//
//  1. proc.Start picks a free loopback port, starts the server with PORT set
//     in its environment and "{port}" replaced in its arguments, and waits
//     until it accepts a TCP connection, or answers GET
//     [Command.ReadyPath] with a 2xx status.
//  2. The idle connections are opened (each sends one request, then stays
//     quiet), then the silent sockets (connected, nothing sent), then the
//     WebSocket and SSE streams, which stay open.
//  3. The busy clients and the slow requests start; Warmup later, the
//     probe sends the signal.
//  4. The load goes on until the process exits: busy clients that are told
//     "Connection: close" reconnect, and stop once a new connection is
//     refused. If the process has not exited KillAfter after the signal,
//     it gets SIGKILL.
//
// # Packages
//
// The probe is this package and five beneath it:
//
//   - probe (this package): the run ([Run], [Config], [Load], [Upgrades]),
//     the load, the classifying of what became of each request, and the
//     recorder that counts them into the report, with the keep-up
//     monitor and the progress line.
//   - [github.com/drain-go/drain/internal/probe/report]: the [report.Report]
//     (outcomes, counts, records, timeline, upgrades), its verdict, and
//     its renderings as text, JSON and HTML.
//   - [github.com/drain-go/drain/internal/probe/proc]: starting the server,
//     its process group and what it starts, signals, exits, daemons, and
//     the processes of an upgrade run.
//   - [github.com/drain-go/drain/internal/probe/wire]: the clients, in
//     HTTP/1.1, HTTP/2 and gRPC, and the streams (WebSocket, SSE, gRPC
//     Watch), which tell what a server did to each request.
//   - [github.com/drain-go/drain/internal/probe/held]: the idle connections
//     and silent sockets held quiet, and when the server closed each.
//   - internal/testchild: the server the tests start, for tests only.
//
// The server process is always killed and reaped (see proc), every
// connection closed and every goroutine ended before [Run] returns.
//
// # Target mode
//
// With [Config.Target] the probe starts nothing: it loads a server already
// running, at any address (behind a load balancer, say). With
// [Config.PID] it signals that process after the warm-up and learns of its
// exit from a pidfd (Linux), though not its exit code. Without a PID it
// sends no signal: the load runs for [Config.Duration], while someone
// else stops the server, and times are relative to the load's start.
//
// # Upgrade runs
//
// With [Config.Upgrades] the probe checks a zero-downtime upgrade on one
// machine (a server that replaces itself by a new process on SIGHUP, as
// nginx, HAProxy, tableflip and drain's Upgrader do): the load runs
// through that many upgrade signals, sent to whichever process the PID
// file names, Interval apart; each must change the PID within Timeout,
// and each old process must exit 0; then the last process's shutdown is
// probed as in any run, since a server that upgrades well must also stop
// well, and the same load and verdict judge both. Nothing may be refused
// or lost at an upgrade, and the slow requests in flight at each signal
// must be answered. The verdict names the upgrade of each problem
// ([report.CodeUpgradePID], [report.CodeUpgradeExit],
// [report.CodeRefused], [report.CodeLost] "at upgrade 2"), and
// [report.Report.Upgrades] lists what each did.
//
// # What becomes of a request
//
// Every request ends in one [report.Outcome]:
//
//   - [report.Answered]: a complete response was read, whatever its status.
//   - [report.Refused]: the connection could not be established (refused,
//     reset or timed out during connect), so nothing was sent. For a single
//     instance whose listener has closed this is expected: a client, or a
//     load balancer, can safely try elsewhere.
//   - [report.Lost]: the request was written on an established connection
//     and no complete response came back: the connection was closed or reset
//     under it (a reused keep-alive connection, or a fresh one reset after
//     the connect succeeded), the response timed out, or its body was cut
//     short. A client cannot know whether the server acted on it.
//   - [report.Aborted]: the probe itself gave up on it at the end of the
//     run; not the server's doing.
//
// Streams are not requests, and are counted apart: a WebSocket is answered
// if the server ends it with a close frame (1001 "going away" is what a
// server shutting down should send), an SSE stream if its response ends
// cleanly; either is lost if it is cut, or still open when the process
// exits, and refused if it could not be opened.
//
// The idle connections and silent sockets are watched, all of them by one
// goroutine (epoll on Linux; see package held), for the server closing them:
// the report says how many it closed before it exited
// ([report.Report.IdleClosedBeforeExit]) and how many it held until then.
//
// # Timing
//
// All times are taken by the probe on one monotonic clock: when it sent the
// signal, when it read the last complete response, and when waiting for the
// process returned. "last response -> exit" is how long the server stayed
// alive once it had nothing left to answer; "signal -> exit" is the whole
// shutdown. Every request also lands in a [report.Timeline] of 10 ms buckets
// by when it ended.
//
// The probe shares the machine with the server, so it watches itself: the
// rate its busy clients achieved before the signal, how late it sent the
// signal, and its scheduling lag every 10 ms during the load.
// [report.Report.KeptUp] says whether its timings can be trusted. Against a
// bare net/http hello handler on a 2-core machine, 16 busy clients sustain
// 35,000 to 67,000 requests/s depending on the host, with a lag of 1 to 3 ms
// at the 99th percentile (go test -run '^$' -bench Throughput -benchtime 3x;
// BENCHMARKS.md).
//
// # Verdict and reports
//
// [report.Report.Verdict] judges the shutdown: it fails if requests were
// lost, slow requests not completed, the exit code was not 0, the process
// was killed at the grace period, it exited long after its last response, it
// waited for quiet connections, or streams were cut. The report is the one
// record of the run, rendered three ways: [report.Report.WriteText] for
// people (String is the same), [report.Report.MarshalJSON] for machines, and
// [report.Report.WriteHTML] as a page with the timeline of the requests;
// drainprobe prints them. [Config.Progress] feeds a live progress line.
package probe
