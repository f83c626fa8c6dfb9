// Command grpcplain is the usual graceful shutdown of a grpc-go server,
// as the benchmarks and drainprobe's tests compare draingrpc with: the
// standard health service registered, Serve in a goroutine, and on
// SIGTERM or SIGINT GracefulStop, which waits for every RPC in flight,
// health Watch streams included, with no bound.
//
//	PORT=50051 grpcplain
package main

import (
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "50051"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("grpcplain: listening on %s", ln.Addr())
	select {
	case err := <-served:
		log.Fatal(err)
	case <-sig:
	}
	log.Print("grpcplain: GracefulStop")
	srv.GracefulStop()
	log.Print("grpcplain: stopped")
}
