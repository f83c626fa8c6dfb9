// Command exitone is a drainprobe test server that drains correctly, with
// the drain library, and then exits with code 1.
//
// Flaw: its cleanup function (closing a cache client) fails, and a
// failed cleanup makes drain.Group.Run return an error, so
// drain.ExitCode gives 1. Every request is answered; only the exit code
// is wrong, as a process supervisor sees it.
//
// Expected verdict: FAIL, with reason "exit-code" only: nothing lost,
// every slow request completed, the process exits on its own and at once.
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"errors"
	"os"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

func main() {
	var g drain.Group
	g.Add(&drain.HTTP{Server: routes.Server()})
	g.Cleanup("cache", func(ctx context.Context) error {
		return errors.New("cache: flush on close: connection refused")
	})
	os.Exit(drain.ExitCode(g.Run(context.Background())))
}
