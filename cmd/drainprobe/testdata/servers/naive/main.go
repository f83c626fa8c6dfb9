// Command naive is a drainprobe test server that does nothing about
// shutting down: it calls http.ListenAndServe and never looks at signals.
//
// Flaw: SIGTERM's default action kills the process on the spot. The
// kernel closes every connection under the requests in flight, and the
// process ends by the signal instead of exiting (a shell reports 143).
//
// Expected verdict: FAIL, with reason "exit-code" (killed by SIGTERM, not
// exit 0) and with "slow-incomplete" and "lost" (the slow requests in
// flight and the busy keep-alive clients' requests are cut).
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"log"
	"net/http"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

func main() {
	addr := routes.Addr()
	log.Printf("naive: listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes.Handler()))
}
