package draingrpc_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// The other route: a grpc.Server served through its ServeHTTP method by
// drain.HTTP, over h2c here (as connect-go and any gRPC server on net/http
// run). Handlers learn of the drain from drain.Draining on the RPC's
// context, which carries the request's; a stream that heeds it ends with
// UNAVAILABLE, unary RPCs in flight finish, and Run returns nil. The
// grpc.Server's own GracefulStop and Stop must not be called on this
// route: grpc-go does not support them with ServeHTTP.
func TestServeHTTPRoute(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, testService{})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	h := &drain.HTTP{Server: &http.Server{Handler: gs, Protocols: &protocols}, Listener: ln, Name: "grpc-over-http"}
	g := &drain.Group{Signals: []os.Signal{}, Logger: slog.New(slog.DiscardHandler), Timeout: 20 * time.Second}
	g.Add(h)
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	result := make(chan error, 1)
	go func() { result <- g.Run(ctx) }()
	<-g.Happened(drain.Serving)

	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)
	stream, err := client.StreamingOutputCall(context.Background(), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("the stream's first message: %v", err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 300})
		slow <- err
	}()
	waitFor(t, "the slow RPC", func() bool { return h.Stats().Requests == 2 })

	shutdown()
	streamErr := drainStream(stream.Recv)
	if status.Code(streamErr) != codes.Unavailable || !strings.Contains(streamErr.Error(), "reconnect") {
		t.Errorf("the stream: %v; want the handler's UNAVAILABLE", streamErr)
	}
	if err := <-slow; err != nil {
		t.Errorf("the unary RPC in flight: %v", err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
}
