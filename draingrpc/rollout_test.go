package draingrpc_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/draingrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// instanceEnv asks the test binary to run one instance of the rollout
// instead of the tests: "addr delay". The instances are real processes
// that get real signals.
const instanceEnv = "DRAINGRPC_INSTANCE"

// runInstance serves testService on addr as a process would, until
// SIGTERM or SIGINT, and returns the exit code. It writes "serving" on
// stdout once it serves.
func runInstance(spec string) int {
	var addr string
	var delay time.Duration
	if _, err := fmt.Sscan(spec, &addr, &delay); err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", instanceEnv, spec, err)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	g := &drain.Group{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), ShutdownDelay: delay, Timeout: 10 * time.Second}
	s := draingrpc.NewServer()
	testpb.RegisterTestServiceServer(s.GRPC, testService{})
	s.Listener = ln
	g.Add(s)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		select {
		case <-g.Happened(drain.Serving):
			fmt.Println("serving")
		case <-done:
		}
	})
	code := drain.ExitCode(g.Run(context.Background()))
	close(done)
	wg.Wait()
	return code
}

// An instance is one server process of the rollout, on a fixed loopback
// port, restarted in turn.
type instance struct {
	addr   string
	served atomic.Int64 // RPCs it answered, all its runs, as the client saw
	cmd    *exec.Cmd
}

func (in *instance) start(t *testing.T, delay time.Duration) {
	t.Helper()
	in.cmd = exec.Command(os.Args[0], "-test.run=^$")
	in.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %v", instanceEnv, in.addr, delay))
	in.cmd.Stderr = os.Stderr
	out, err := in.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "serving\n" {
		t.Fatalf("instance %s did not serve: %q, %v", in.addr, line, err)
	}
}

// stop sends SIGTERM and waits for the instance to exit 0.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- in.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("instance %s: %v, want exit 0", in.addr, err)
		}
	case <-time.After(20 * time.Second):
		in.cmd.Process.Kill()
		<-exited
		t.Errorf("instance %s did not stop within 20s: killed", in.addr)
	}
}

// A rolling restart of two gRPC server processes behind a grpc-go client that
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
		defer ins[i].stop(t)
		addrs = append(addrs, resolver.Address{Addr: ins[i].addr})
	}
	byAddr := map[string]*instance{ins[0].addr: ins[0], ins[1].addr: ins[1]}
	// count credits each answered RPC to the instance that answered it.
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var p peer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Peer(&p))...)
		if err == nil && p.Addr != nil {
			if in := byAddr[p.Addr.String()]; in != nil {
				in.served.Add(1)
			}
		}
		return err
	}

	r := manual.NewBuilderWithScheme("rollout")
	r.InitialState(resolver.State{Addresses: addrs})
	cc, err := grpc.NewClient(r.Scheme()+":///rollout",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(count),
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
		in.stop(t)
		in.start(t, delay)
		bothServe()
	}
	unary := stopCalls()
	failed = unary.refused + int64(len(unary.failed))
	return failed, failed + unary.ok
}
