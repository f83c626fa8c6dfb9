// Command stdlib is a drainprobe test server with the canonical Go
// graceful shutdown, standard library only: signal.NotifyContext for
// SIGINT and SIGTERM, ListenAndServe in a goroutine, then Server.Shutdown
// with a 10 second context, and exit code 1 if that context expires.
//
// Flaws, both in net/http's Server.Shutdown:
//   - It closes every connection that is idle at the instant it looks. A
//     busy keep-alive client is idle between two of its requests, so each
//     one loses the request it sends next, on a connection that has just
//     been closed under it: one lost request per busy connection.
//   - A connection that has sent nothing yet (a browser's preconnect)
//     counts as idle only once it is 5 seconds old, so connected-but-silent
//     sockets hold the process for about 5 seconds.
//
// It does exit 0, and the slow requests in flight complete.
//
// Expected verdict: FAIL, with reason "lost" under keep-alive load, and
// "held-sockets" when silent sockets are open at the signal: it waits for
// them until drainprobe closes them (after --max-exit-lag with nothing to
// answer), then exits within Shutdown's poll interval (500 ms at most).
// Clients that never give up hold it about 5 s (bench/shutdown.sh, whose
// probe keeps them open: 20 sockets connected 1 s before the signal, exit
// 0 4.8 s after it).
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

func main() {
	os.Exit(run())
}

func run() int {
	srv := routes.Server()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("stdlib: listening on %s", srv.Addr)

	select {
	case err := <-served:
		log.Printf("stdlib: %v", err)
		return 1
	case <-ctx.Done():
	}
	stop()
	log.Print("stdlib: signal received, shutting down")

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Printf("stdlib: shutdown: %v", err)
		return 1
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		log.Printf("stdlib: %v", err)
		return 1
	}
	log.Print("stdlib: shutdown complete")
	return 0
}
