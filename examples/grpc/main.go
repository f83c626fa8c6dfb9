// Command grpc is a gRPC service that drains, built on draingrpc: the
// standard health service, a unary method and a server-streaming one
// (grpc-go's interop TestService, so that any gRPC client can call it).
//
//	go run ./examples/grpc                  # listens on :$PORT, else :50051
//	grpcurl -plaintext localhost:50051 grpc.health.v1.Health/Check
//
// Flags: -addr (default :$PORT, else :50051), -timeout (the bound on the
// shutdown, delay included, 10s), -shutdown-delay (how long to serve on
// after the signal with the health service reporting NOT_SERVING, 0).
// Methods: grpc.testing.TestService/UnaryCall answers after response_size
// milliseconds; grpc.testing.TestService/StreamingOutputCall sends a
// message every 100ms until the drain begins, then ends with UNAVAILABLE,
// which clients retry elsewhere; grpc.health.v1.Health/Check and Watch.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/draingrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr, nil))
}

// run runs the service until SIGTERM or SIGINT arrives or ctx ends, and
// returns the exit code. serving, if not nil, receives the address once it
// serves; give it room for one.
func run(ctx context.Context, args []string, stderr io.Writer, serving chan<- string) int {
	fs := flag.NewFlagSet("grpc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr(), "address to listen on")
	timeout := fs.Duration("timeout", drain.DefaultTimeout, "bound on the shutdown, delay included")
	delay := fs.Duration("shutdown-delay", 0, "how long to serve on after the signal, health NOT_SERVING")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("grpc: not started", "err", err)
		return 1
	}
	g := drain.Group{Timeout: *timeout, ShutdownDelay: *delay, Logger: log}
	s := draingrpc.NewServer()
	testpb.RegisterTestServiceServer(s.GRPC, service{})
	s.Listener = ln
	g.Add(s)
	var wg sync.WaitGroup
	done := make(chan struct{})
	if serving != nil {
		wg.Go(func() {
			select {
			case <-g.Happened(drain.Serving):
				serving <- ln.Addr().String()
			case <-done:
			}
		})
	}
	code := drain.ExitCode(g.Run(ctx))
	close(done)
	wg.Wait()
	return code
}

func defaultAddr() string {
	if port := os.Getenv("PORT"); port != "" {
		return ":" + port
	}
	return ":50051"
}

type service struct {
	testpb.UnimplementedTestServiceServer
}

func (service) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	select {
	case <-time.After(time.Duration(req.GetResponseSize()) * time.Millisecond):
		return &testpb.SimpleResponse{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// StreamingOutputCall streams until the client goes away, or the drain
// begins: it ends then with UNAVAILABLE, which tells the client to
// reconnect, rather than holding the drain until it is forced.
func (service) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-tick.C:
			body := fmt.Appendf(nil, "message %d", n)
			if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: body}}); err != nil {
				return err
			}
		case <-drain.Draining(stream.Context()):
			return status.Error(codes.Unavailable, "server shutting down: reconnect")
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}
