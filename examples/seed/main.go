// Command seed is the server of the Express graceful-shutdown article,
// rebuilt on drain. Its code is in internal/seed, so that drainprobe can
// run it too.
//
//	go run ./examples/seed                  # listens on :$PORT, else :3000
//	curl localhost:3000/ & sleep 1; kill -TERM $(pgrep seed)
//
// Flags: -addr (default :$PORT, else :3000), -delay (how long GET /
// takes, 5s), -timeout (the bound on the shutdown, delay included, 10s),
// -shutdown-delay (how long to serve on after the signal with /readyz
// failing, 0), -retry-after (answer new requests 503 with Retry-After
// while draining), -h2c (serve HTTP/2 without TLS too), -pidfile (keep the
// serving process's PID there, default $PIDFILE), -fdstore (keep the
// socket in systemd's file descriptor store), -foreground (stay after an
// upgrade, for runit and supervisord). Routes: GET / after -delay,
// GET /fast at once, GET /slow?ms=N after N milliseconds, /events and /ws
// streams, /livez, /readyz and /metrics. It logs each step of the
// shutdown with an event attribute: shutdown-initiated, delay-elapsed,
// stopped-accepting, drained, cleanup-done. SIGHUP upgrades it in place:
// the binary at its path takes the listening socket over (see
// docs/restarts.md).
package main

import (
	"os"

	"github.com/drain-go/drain/internal/seed"
)

func main() {
	os.Exit(seed.Run(os.Args[1:], os.Stderr))
}
