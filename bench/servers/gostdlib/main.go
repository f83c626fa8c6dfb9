// Command gostdlib is the canonical graceful shutdown of a Go HTTP server
// with the standard library alone, as the benchmarks compare drain with:
// signal.NotifyContext for SIGINT and SIGTERM, ListenAndServe in a
// goroutine, then Server.Shutdown with a 10 second context, and exit code
// 1 if that context expires.
//
//	PORT=8080 gostdlib
//	H2C=1 PORT=8080 gostdlib   # HTTP/2 without TLS too (prior knowledge)
//
// Routes:
//
//	GET /fast        answers "fast\n" at once
//	GET /slow?ms=N   answers "slow\n" after N milliseconds
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

	"github.com/drain-go/drain/bench/servers/internal/routes"
)

func main() {
	os.Exit(run())
}

func run() int {
	mux := routes.Mux()

	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if os.Getenv("H2C") == "1" {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("listening on %s", srv.Addr)

	select {
	case err := <-served:
		log.Printf("serve: %v", err)
		return 1
	case <-ctx.Done():
	}
	stop()
	log.Print("shutting down")

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Printf("shutdown: %v", err)
		return 1
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
		return 1
	}
	log.Print("shutdown complete")
	return 0
}
