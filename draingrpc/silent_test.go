package draingrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// A connection that has sent nothing (a browser's preconnect, a balancer's
// TCP check) does not hold the drain: grpc-go's GracefulStop would wait
// for its handshake, up to two minutes, before sending any GOAWAY, and go
// on serving the other connections meanwhile. The drain closes it, and
// the RPC in flight is answered.
func TestSilentConnDoesNotHoldDrain(t *testing.T) {
	cc, _, s, cancel, wait, logs := start(t, testService{}, nil)
	client := testpb.NewTestServiceClient(cc)
	if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 1}); err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// grpc-go writes its SETTINGS as it accepts a connection, before it
	// reads anything: once they come, the connection is in its handshake.
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 9)); err != nil {
		t.Fatalf("no SETTINGS from the server on the silent connection: %v", err)
	}

	inFlight := make(chan error, 1)
	go func() {
		_, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{ResponseSize: 300})
		inFlight <- err
	}()
	waitFor(t, "the RPC to be in flight", func() bool { return s.Stats().Requests == 1 })
	began := time.Now()
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the drain took %v with a silent connection open, want it to end once the RPC is answered", took)
	}
	if err := <-inFlight; err != nil {
		t.Errorf("the RPC in flight: %v", err)
	}
	if !strings.Contains(logs.String(), "closed connections that had sent nothing") {
		t.Errorf("the log does not say the silent connection was closed:\n%s", logs)
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, silent); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the silent connection is still open")
	}
}
