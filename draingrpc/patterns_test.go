package draingrpc_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/draingrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// The stop of a gRPC server under load, side by side with the patterns
// users write today:
//
//	go test -run '^$' -bench Patterns -benchtime 3x ./draingrpc
//
// Each run: 32 unary callers in loops, 8 server streams and a
// bidirectional one whose handlers end with UNAVAILABLE when
// drain.Draining fires, and a health Watch stream, all from a grpc-go
// client with default settings; the stop begins 300ms into the load.
// Metrics: unary RPCs that failed other than as refused once the server
// stopped listening (lost/op; a caller waits 10ms after a refusal), streams that did not end with a retryable
// status (streams-cut/op), the time from the stop's start to its end
// (ms-stop), and from the last response to the end (ms-last-rpc-to-stop).
// The patterns: GracefulStop alone, with a 3s cap (it waits for ever on
// an open stream); GracefulStop then Stop after 2s (the usual 10s,
// shortened); health NOT_SERVING and GracefulStop at once; draingrpc in a
// drain.Group.
func BenchmarkPatterns(b *testing.B) {
	for _, p := range []struct {
		name  string
		serve func(ln net.Listener) (stop func())
	}{
		{"GracefulStop", plainPattern(func(gs *grpc.Server, _ *health.Server) {
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second): // held by the streams: cut here to end the run
				gs.Stop()
				<-done
			}
		})},
		{"GracefulStop+Stop@2s", plainPattern(func(gs *grpc.Server, _ *health.Server) {
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				gs.Stop()
				<-done
			}
		})},
		{"NOT_SERVING+GracefulStop", plainPattern(func(gs *grpc.Server, hs *health.Server) {
			hs.Shutdown()
			done := make(chan struct{})
			go func() { gs.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				gs.Stop()
				<-done
			}
		})},
		{"draingrpc", func(ln net.Listener) func() {
			g := &drain.Group{Signals: []os.Signal{}, Logger: slog.New(slog.DiscardHandler), Timeout: 10 * time.Second}
			s := draingrpc.NewServer()
			testpb.RegisterTestServiceServer(s.GRPC, testService{})
			s.Listener = ln
			g.Add(s)
			ctx, cancel := context.WithCancel(context.Background())
			result := make(chan error, 1)
			go func() { result <- g.Run(ctx) }()
			<-g.Happened(drain.Serving)
			return func() { cancel(); <-result }
		}},
	} {
		b.Run(p.name, func(b *testing.B) {
			var lost, cut int64
			var stops, lags []time.Duration
			for b.Loop() {
				r := underLoad(b, p.serve)
				lost += r.lost
				cut += r.cut
				stops = append(stops, r.stop)
				lags = append(lags, r.lastToStop)
			}
			n := float64(len(stops))
			b.ReportMetric(float64(lost)/n, "lost/op")
			b.ReportMetric(float64(cut)/n, "streams-cut/op")
			b.ReportMetric(median(stops), "ms-stop")
			b.ReportMetric(median(lags), "ms-last-rpc-to-stop")
		})
	}
}

// plainPattern serves a plain grpc.Server with a health service, and
// stops it with stop.
func plainPattern(stop func(*grpc.Server, *health.Server)) func(net.Listener) func() {
	return func(ln net.Listener) func() {
		gs := grpc.NewServer()
		hs := health.NewServer()
		healthpb.RegisterHealthServer(gs, hs)
		testpb.RegisterTestServiceServer(gs, testService{})
		done := make(chan struct{})
		go func() { gs.Serve(ln); close(done) }()
		return func() { stop(gs, hs); <-done }
	}
}

type loadResult struct {
	lost, cut        int64
	stop, lastToStop time.Duration
}

func underLoad(b *testing.B, serve func(net.Listener) func()) loadResult {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	stop := serve(ln)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)
	ctx := context.Background()

	var cut atomic.Int64
	var last atomic.Int64 // unix nanoseconds of the last stream message read
	seen := func() { last.Store(time.Now().UnixNano()) }
	var wg sync.WaitGroup
	stopCalls := callInLoops(client, 32)
	streamEnd := func(recv func() error) {
		for {
			if err := recv(); err != nil {
				if !endedByServer(err) {
					cut.Add(1)
				}
				return
			}
			seen()
		}
	}
	for range 8 {
		st, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { streamEnd(func() error { _, err := st.Recv(); return err }) })
	}
	bidi, err := client.FullDuplexCall(ctx)
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { streamEnd(func() error { _, err := bidi.Recv(); return err }) })
	watch, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { streamEnd(func() error { _, err := watch.Recv(); return err }) })

	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	stop()
	end := time.Now()
	unary := stopCalls()
	wg.Wait()
	lastAnswer := time.Unix(0, last.Load())
	if unary.last.After(lastAnswer) {
		lastAnswer = unary.last
	}
	return loadResult{
		lost:       int64(len(unary.failed)),
		cut:        cut.Load(),
		stop:       end.Sub(start),
		lastToStop: end.Sub(lastAnswer),
	}
}

func median(ds []time.Duration) float64 {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}
