package draingrpc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/draingrpc"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(instanceEnv); spec != "" {
		os.Exit(runInstance(spec))
	}
	goleak.VerifyTestMain(m)
}

// testService is a service as users write them: UnaryCall answers after
// ResponseSize milliseconds; StreamingOutputCall and FullDuplexCall send
// a message every 5ms until the drain begins, and then end with
// Unavailable, which clients retry elsewhere. With ignoreDrain, the
// streams go on until their context ends.
type testService struct {
	testpb.UnimplementedTestServiceServer
	ignoreDrain bool
}

func (testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	select {
	case <-time.After(time.Duration(req.GetResponseSize()) * time.Millisecond):
		return &testpb.SimpleResponse{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t testService) StreamingOutputCall(_ *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	return t.endless(stream.Context(), func() error { return stream.Send(&testpb.StreamingOutputCallResponse{}) })
}

func (t testService) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	return t.endless(stream.Context(), func() error { return stream.Send(&testpb.StreamingOutputCallResponse{}) })
}

func (t testService) endless(ctx context.Context, send func() error) error {
	draining := drain.Draining(ctx)
	if t.ignoreDrain {
		draining = nil
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := send(); err != nil {
				return err
			}
		case <-draining:
			return status.Error(codes.Unavailable, "server shutting down: reconnect")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// syncBuffer collects logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a group with a draingrpc server of svc on loopback, and
// returns a client connection, the group, a function that starts the
// shutdown, and one that waits for Run's result.
func start(t *testing.T, svc testService, cfg func(*drain.Group)) (*grpc.ClientConn, *drain.Group, *draingrpc.Server, context.CancelFunc, func() error, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	g := &drain.Group{Signals: []os.Signal{}, Logger: slog.New(slog.NewTextHandler(logs, nil)), Timeout: 20 * time.Second}
	if cfg != nil {
		cfg(g)
	}
	s := draingrpc.NewServer()
	testpb.RegisterTestServiceServer(s.GRPC, svc)
	s.Listener = ln
	s.Name = "rpc"
	g.Add(s)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- g.Run(ctx) }()
	<-g.Happened(drain.Serving)
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var runErr error
	wait := func() error {
		once.Do(func() {
			select {
			case runErr = <-result:
			case <-time.After(30 * time.Second):
				t.Error("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		cc.Close()
		cancel()
		wait()
	})
	return cc, g, s, cancel, wait, logs
}

// Under load, the drain answers every RPC in flight, ends the streams
// that heed Draining and the health Watch streams with Unavailable, after
// NOT_SERVING, and Run returns nil moments after the last RPC.
func TestDrainUnderLoad(t *testing.T) {
	cc, g, s, shutdown, wait, logs := start(t, testService{}, nil)
	client := testpb.NewTestServiceClient(cc)
	ctx := context.Background()

	// A health watcher, as client-side health checking runs one.
	watch, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Watch before the drain: %v, %v; want SERVING", r, err)
	}

	// Unary callers in loops, until the server has stopped.
	stopCalls := callInLoops(client, 8)
	// Streams, and one slow unary RPC in flight at the drain.
	type result struct {
		what string
		err  error
	}
	streams := make(chan result, 3)
	for range 2 {
		st, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{})
		if err != nil {
			t.Fatal(err)
		}
		go func() { streams <- result{"server stream", drainStream(st.Recv)} }()
	}
	bidi, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() { streams <- result{"bidirectional stream", drainStream(bidi.Recv)} }()
	slow := make(chan error, 1)
	go func() {
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 300})
		slow <- err
	}()
	// The unary callers count as requests too: wait for the streams.
	waitFor(t, "the streams and the slow RPC", func() bool { st := s.Stats(); return st.Streams >= 4 && st.Requests >= 5 })
	if st := s.Stats(); st.Streams != 4 || st.HTTP2 != 1 {
		t.Errorf("Stats() = %+v; want 4 streams (2 server streams, 1 bidirectional, 1 health Watch) on 1 connection", st)
	}
	time.Sleep(50 * time.Millisecond) // some load

	shutdown()
	// The watcher hears NOT_SERVING, then its stream ends, retryably.
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health Watch at the drain: %v, %v; want NOT_SERVING", r, err)
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("health Watch after NOT_SERVING: %v; want the stream ended with Unavailable", err)
	}
	for range 3 {
		r := <-streams
		if status.Code(r.err) != codes.Unavailable || !strings.Contains(r.err.Error(), "reconnect") {
			t.Errorf("%s: %v; want the handler's Unavailable", r.what, r.err)
		}
	}
	if err := <-slow; err != nil {
		t.Errorf("the slow RPC in flight at the drain: %v", err)
	}
	if err := wait(); err != nil {
		t.Errorf("Run: %v", err)
	}
	unary := stopCalls()
	if len(unary.failed) > 0 || unary.ok == 0 {
		t.Errorf("unary RPCs: %d answered, %d refused once the server stopped, %d failed otherwise: %v", unary.ok, unary.refused, len(unary.failed), unary.failed)
	}
	for _, want := range []string{`msg="drain: open" server=rpc requests=`, `msg="drain: server drained" server=rpc`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %s in the log:\n%s", want, logs.String())
		}
	}
	if g.When(drain.StoppedAccepting).IsZero() || g.When(drain.StoppedAccepting).After(g.When(drain.Drained)) {
		t.Errorf("StoppedAccepting at %v, Drained at %v", g.When(drain.StoppedAccepting), g.When(drain.Drained))
	}
}

// A stream whose handler ignores Draining is cut at the bound: Run says
// the shutdown was forced, and the log names the RPC.
func TestStreamIgnoringDrainForced(t *testing.T) {
	cc, _, s, shutdown, wait, logs := start(t, testService{ignoreDrain: true}, func(g *drain.Group) { g.Timeout = 300 * time.Millisecond })
	st, err := testpb.NewTestServiceClient(cc).StreamingOutputCall(context.Background(), &testpb.StreamingOutputCallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- drainStream(st.Recv) }()
	waitFor(t, "the stream", func() bool { return s.Stats().Requests == 1 })
	shutdown()
	if err := wait(); !errors.Is(err, drain.ErrForced) {
		t.Errorf("Run: %v; want ErrForced", err)
	}
	if err := <-ended; status.Code(err) == codes.OK {
		t.Errorf("the stream ended with %v; want an error", err)
	}
	if !strings.Contains(logs.String(), `msg="drain: RPC still running at forced stop" server=rpc method=/grpc.testing.TestService/StreamingOutputCall`) {
		t.Errorf("the log does not name the RPC cut:\n%s", logs.String())
	}
	if st := s.Stats(); st.ForcedRequests != 1 {
		t.Errorf("Stats().ForcedRequests = %d, want 1", st.ForcedRequests)
	}
}

func TestInvalid(t *testing.T) {
	withHealth := draingrpc.NewServer()
	healthpb.RegisterHealthServer(withHealth.GRPC, healthpb.UnimplementedHealthServer{})
	withHealth.Addr = "127.0.0.1:0"
	for _, tc := range []struct {
		name string
		s    *draingrpc.Server
		want string
	}{
		{"not made by NewServer", &draingrpc.Server{GRPC: grpc.NewServer(), Addr: ":0"}, "draingrpc.NewServer"},
		{"no address", draingrpc.NewServer(), "neither Addr nor Listener"},
		{"a health service of its own", withHealth, "set Health to it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := drain.Group{Signals: []os.Signal{}, Logger: slog.New(slog.DiscardHandler)}
			g.Add(tc.s)
			if err := g.Run(context.Background()); !errors.Is(err, drain.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v; want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

// drainStream reads a stream to its end and returns how it ended.
func drainStream[T any](recv func() (T, error)) error {
	for {
		if _, err := recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
