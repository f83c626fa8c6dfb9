package draingrpc_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/draingrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// An instance is one server of the rollout, on a fixed loopback port,
// restarted in turn.
type instance struct {
	addr   string
	served atomic.Int64 // RPCs it answered, all its runs
	stop   context.CancelFunc
	result chan error
}

// serviceCounting counts the unary RPCs an instance answers.
type serviceCounting struct {
	testService
	in *instance
}

func (s serviceCounting) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	resp, err := s.testService.UnaryCall(ctx, req)
	if err == nil {
		s.in.served.Add(1)
	}
	return resp, err
}

func (in *instance) start(t *testing.T, delay time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", in.addr)
	if err != nil {
		t.Fatal(err)
	}
	g := &drain.Group{Signals: []os.Signal{}, Logger: slog.New(slog.DiscardHandler), ShutdownDelay: delay, Timeout: 10 * time.Second}
	s := draingrpc.NewServer()
	testpb.RegisterTestServiceServer(s.GRPC, serviceCounting{in: in})
	s.Listener = ln
	g.Add(s)
	ctx, cancel := context.WithCancel(context.Background())
	in.stop = cancel
	in.result = make(chan error, 1)
	go func() { in.result <- g.Run(ctx) }()
	<-g.Happened(drain.Serving)
}

// restart stops the instance, waits for its exit and starts it again.
func (in *instance) restart(t *testing.T, delay time.Duration) {
	t.Helper()
	in.stop()
	select {
	case err := <-in.result:
		if err != nil {
			t.Errorf("instance %s: Run: %v", in.addr, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("instance %s did not stop", in.addr)
	}
	in.start(t, delay)
}

// A rolling restart of two gRPC instances behind a grpc-go client that
// balances round robin with health checking, as gRPC runs behind a
// Kubernetes headless Service: with a shutdown delay, no RPC fails. The
// health service says NOT_SERVING when the shutdown begins, the client
// stops picking the instance, and the instance drains once nothing is sent
// to it.
func TestRollingRestart(t *testing.T) {
	for _, tc := range []struct {
		delay    time.Duration
		wantZero bool
	}{
		{200 * time.Millisecond, true},
		{0, false},
	} {
		t.Run(fmt.Sprintf("delay=%v", tc.delay), func(t *testing.T) {
			failed, total := rollingRestart(t, tc.delay)
			t.Logf("shutdown delay %v: %d of %d RPCs failed", tc.delay, failed, total)
			if tc.wantZero && failed != 0 {
				t.Errorf("%d of %d RPCs failed with a shutdown delay, want 0", failed, total)
			}
		})
	}
}

func rollingRestart(t *testing.T, delay time.Duration) (failed, total int64) {
	ins := make([]*instance, 2)
	var addrs []resolver.Address
	for i := range ins {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ins[i] = &instance{addr: ln.Addr().String()}
		ln.Close()
		ins[i].start(t, delay)
		addrs = append(addrs, resolver.Address{Addr: ins[i].addr})
	}
	defer func() {
		for _, in := range ins {
			in.stop()
			<-in.result
		}
	}()

	r := manual.NewBuilderWithScheme("rollout")
	r.InitialState(resolver.State{Addresses: addrs})
	cc, err := grpc.NewClient(r.Scheme()+":///rollout",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := testpb.NewTestServiceClient(cc)

	stopCalls := callInLoops(client, 8)
	// Both instances take load before each restart, and after the last.
	bothServe := func() {
		t.Helper()
		before := [2]int64{ins[0].served.Load(), ins[1].served.Load()}
		waitFor(t, "both instances to answer RPCs", func() bool {
			return ins[0].served.Load() > before[0]+10 && ins[1].served.Load() > before[1]+10
		})
	}
	bothServe()
	for _, in := range ins {
		in.restart(t, delay)
		bothServe()
	}
	unary := stopCalls()
	failed = unary.refused + int64(len(unary.failed))
	return failed, failed + unary.ok
}
