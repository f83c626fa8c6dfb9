package draingrpc_test

import (
	"context"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/drain-go/drain/draingrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// How soon a drain ends once its last RPC has been answered, side by side
// with grpc-go's own GracefulStop:
//
//	go test -run '^$' -bench LastRPC -benchtime 20x ./draingrpc
//
// Each iteration serves a 100ms unary RPC to a grpc-go client with default
// settings, begins the stop 20ms into it, and measures from the moment the
// client has the response to the moment the stop returns.
func BenchmarkLastRPCToExit(b *testing.B) {
	for _, p := range []struct {
		name string
		stop func(*draingrpc.Server) func()
	}{
		{"GracefulStop", func(s *draingrpc.Server) func() { return s.GRPC.GracefulStop }},
		{"draingrpc", func(s *draingrpc.Server) func() {
			return func() { s.Shutdown(context.Background()) }
		}},
	} {
		b.Run(p.name, func(b *testing.B) {
			var lags []time.Duration
			for b.Loop() {
				lags = append(lags, lastRPCToExit(b, p.stop))
			}
			sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "ms-median-last-rpc-to-exit")
			b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "ms-max-last-rpc-to-exit")
		})
	}
}

func lastRPCToExit(b *testing.B, stop func(*draingrpc.Server) func()) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := draingrpc.NewServer()
	testpb.RegisterTestServiceServer(s.GRPC, testService{})
	s.Listener = ln
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)
	if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
		b.Fatal(err)
	}
	answered := make(chan time.Time, 1)
	go func() {
		if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 100}); err != nil {
			b.Error(err)
		}
		answered <- time.Now()
	}()
	time.Sleep(20 * time.Millisecond)
	stop(s)()
	stopped := time.Now()
	last := <-answered
	s.Close()
	<-served
	return stopped.Sub(last)
}
