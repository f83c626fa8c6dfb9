// Command good is a drainprobe test server that shuts down correctly: the
// drain library with its defaults, as in examples/seed, serving only
// /fast and /slow.
//
// On SIGTERM (or the signal named by $GOOD_SIGNAL, such as SIGWINCH) it
// stops accepting, answers every request in flight and the next request
// of each busy keep-alive client (with "Connection: close"), closes idle
// and silent connections once quiet for 250 ms, and exits 0 as soon as
// the last connection has closed.
//
// Expected verdict: PASS.
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
	"golang.org/x/sys/unix"
)

func main() {
	var g drain.Group
	if name := os.Getenv("GOOD_SIGNAL"); name != "" {
		sig := unix.SignalNum(name)
		if sig == 0 {
			fmt.Fprintf(os.Stderr, "good: GOOD_SIGNAL=%s: no such signal\n", name)
			os.Exit(2)
		}
		g.Signals = []os.Signal{sig}
	}
	g.Add(&drain.HTTP{Server: routes.Server()})
	os.Exit(drain.ExitCode(g.Run(context.Background())))
}
