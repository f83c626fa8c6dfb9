// Package drain stops Go network services without losing a request: on
// SIGTERM or SIGINT it stops accepting connections, lets the requests in
// flight finish, closes each connection as soon as it is safe to, runs the
// cleanup functions, and returns an error that tells main which exit code
// to use, all within a bound.
//
// A service wraps its existing [net/http.Server] (any router) and its
// cleanup code, and calls one function from main:
//
//	func main() {
//		db := openDatabase()
//		srv := &http.Server{Addr: ":8080", Handler: router}
//
//		var g drain.Group // stops on SIGTERM or SIGINT, within 10s
//		g.Add(&drain.HTTP{Server: srv})
//		g.Cleanup("database", func(ctx context.Context) error { return db.Close() })
//		os.Exit(drain.ExitCode(g.Run(context.Background())))
//	}
//
// Run returns only after the drain and the cleanup are over, so main
// cannot exit while a request is still being answered. The package never
// exits the process itself, keeps no global state, and leaves no goroutine
// or signal registration of its own behind once Run returns; user code
// that ignores its cancelled context (a handler, a cleanup function, a
// readiness check) is the exception, since Go cannot stop it.
//
// # The shutdown
//
// When a signal from [Group.Signals] arrives, the context given to Run
// ends, or a server fails, [Group.Run]:
//
//  1. logs why, and what is open: requests in flight, the oldest of them,
//     and connections by state; from now on the readiness check of
//     [Group.Health] fails, and for [Group.ShutdownDelay], if set, the
//     servers serve on, every response saying "Connection: close";
//  2. stops accepting on every listener, after accepting the connections
//     already queued in the kernel, which closing a listening socket would
//     reset under clients that believe they are connected, through any
//     wrapper of the listener (see [HTTP.Listener]). On Linux a plain TCP
//     socket first stops completing new handshakes, so that a client
//     connecting now retries and is refused once the socket closes, and
//     closes once the handshakes under way have completed and been
//     accepted (200ms at most); elsewhere the listener accepts for 5ms
//     more. In [RetryAfter] mode it stays open until the requests in
//     flight are done, answering new ones 503. Only then does the drain
//     proper begin, so that clients told to close reconnect to a closed
//     port rather than queue up behind it;
//  3. drains every server in parallel, each connection by its state (see
//     Connections below), logging what it waits for while it lasts: 1s
//     into the drain, then after 2s, 4s, and every 5s;
//  4. finishes the moment the last connection closes: the drain waits for
//     events, it does not poll;
//  5. runs the cleanup functions, newest first, each with a context bounded
//     by what is left of the budget. A function that fails or panics does
//     not stop the others; their errors are joined into Run's result and
//     each one's name and duration is logged;
//  6. if the drain outlasts [Group.Timeout] (10 seconds by default), or a
//     second signal arrives, it closes every server that has not finished,
//     each on its own and at once: it cancels the contexts of the handlers
//     still running (with cause [ErrForced]), logs each of their requests
//     (method, path, age, client), gives their handlers 50ms to answer, and
//     closes every connection, hijacked ones included. A server whose
//     Serve, Shutdown or Close still has not returned 500ms later is
//     abandoned and named. Run still runs the cleanup functions with
//     [Group.CleanupReserve], and returns an error wrapping [ErrForced],
//     for which [ExitCode] is 1.
//
// Each step is an [Event], logged with its name and observable with
// [Group.Happened] and [Group.When]. Whatever a server, a cleanup function
// or a readiness check does, Run returns within Timeout + CleanupReserve
// of the signal (see [Group.Run] for the small waits it adds for code that
// ignores its context).
//
// # Connections
//
// [HTTP] handles every state a connection can be in when the drain begins:
//
//   - Active: the request runs to completion. Its response carries
//     "Connection: close" unless its header was already sent.
//   - Idle keep-alive: closed once it has been quiet for [HTTP.IdleGrace]
//     (250ms by default), and never under a request the client has begun to
//     send, even one still waiting in the kernel. A busy client that sends
//     its next request in the meantime gets an answer marked
//     "Connection: close" and goes away. net/http's Shutdown closes such a
//     connection at once, losing one request per busy keep-alive
//     connection, and drops a request that arrives on one after it began.
//   - New (connected, nothing sent yet, as browsers preconnect): closed as
//     soon as it has been quiet for IdleGrace. net/http's Shutdown waits 5
//     seconds for these.
//   - Receiving a request header (new or idle, some of the header in):
//     served if the header arrives in full within [HTTP.HeaderGrace]
//     (500ms) of its first byte or of the drain's start, whichever is
//     later, as any normal client's does; otherwise the client has stalled
//     half-way, or trickles its header a byte at a time, and its
//     connection is closed without an answer. Without this bound such a
//     client would hold the drain until the Server's ReadHeaderTimeout,
//     which most servers do not set, or until the shutdown is forced.
//   - Hijacked (WebSockets, other upgraded protocols): counted until the
//     handler closes it; net/http forgets them. Handlers learn that the drain
//     began from [Draining] and can say goodbye (a WebSocket close with
//     status 1001) and finish. A forced shutdown closes them.
//   - HTTP/2, over TLS or h2c: streams in flight finish and the client is
//     told to go away (GOAWAY), so it opens no new stream; once it has no
//     stream open and net/http is done writing to it, the connection is
//     half-closed, so that the client reads its last response and closes
//     it. net/http alone waits a second for the client to close it.
//
// The listener stops without resetting the connections queued in the
// kernel, also behind wrappers such as a connection limit or the PROXY
// protocol; see [HTTP.Listener].
//
// Long polls and server-sent events select on [Draining] to end early and
// cleanly. Request contexts are not cancelled when the drain begins, only
// when it is forced, with cause [ErrForced].
//
// # Behind a load balancer
//
// A balancer learns of a shutdown some time after the signal, and sends
// traffic meanwhile. [Group.Health] serves /livez and /readyz in the
// Kubernetes way; /readyz fails as soon as the shutdown begins, and
// [Group.ShutdownDelay] keeps the servers serving until the balancer has
// noticed. [RetryAfter] answers the stragglers 503 with Retry-After
// rather than refusing them. Each step of the shutdown is an [Event],
// logged and observable with [Group.Happened] and [Group.When]; the package
// drainprom exports them, and the servers' [Stats], to Prometheus.
//
// # Other servers
//
// A Group runs any [Server]: [HTTP], and servers of other packages, such
// as a gRPC server or a background worker, with the three methods of
// [net/http.Server]: Serve, Shutdown and Close. Through optional methods,
// listed on [Server], such a server is named in the logs, has its
// configuration checked before anything starts, reports what it holds
// open for the logs and for drainprom, hears that the shutdown begins and
// tells when it has stopped accepting, as [HTTP] does. Package draingrpc
// is such a server, for grpc-go.
//
// A [Worker] takes jobs from a broker or a queue: when the shutdown
// begins it stops taking them, the jobs in hand finish within the budget,
// and only a forced shutdown cancels them. One fed by the process's own
// handlers, through an in-process queue ([FromChannel]), is added with
// [Group.AddAfter], after their server: it takes jobs until that server
// has drained, so that every job a handler accepted is done.
//
// # Restarts in place
//
// On a machine of its own, under systemd or another supervisor, a service
// is restarted in place rather than replaced behind a balancer. An
// [Upgrader] makes that lose nothing: its listening sockets are inherited
// by the new binary on SIGHUP (nothing is closed and reopened), the old
// process drains only once the new one is ready, and a new binary that
// fails to start or to become ready is stopped while the old one serves
// on. Sockets from systemd's socket activation are found by name, and a
// Group tells systemd what it does (READY, STOPPING, RELOADING, the
// watchdog) whenever NOTIFY_SOCKET is set. docs/restarts.md in the
// repository has the operations side: unit files, standalone use.
//
// # Compared with net/http's Shutdown
//
// On the project's 2-core machine, with 16 keep-alive clients sending
// requests back to back and 3 slow requests in flight at SIGTERM, the usual
// pattern around [net/http.Server.Shutdown] loses 16 requests, one per busy
// connection; it notices the end of the last request up to 500 ms late
// (478 ms measured), and waits about 5 s for 20 silent sockets, or for one
// client stalled half-way through a request header. drain loses none, exits
// 1 to 2 ms after the last response, 6 ms after the signal with silent
// sockets and 0.5 s after it with stalled clients. BENCHMARKS.md in the
// repository has the figures and the commands that measure them.
package drain
