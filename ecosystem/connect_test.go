package ecosystem

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/drain-go/drain"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// connect-go runs on net/http, so drain.HTTP drains it as any handler:
// over h2c, a server stream that selects on drain.Draining ends with
// CodeUnavailable, which clients retry, and a unary RPC in flight
// finishes. Handlers built by hand here stand for generated ones.
func TestConnectStreamsEndAtDrain(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/test.v1.Test/Slow", connect.NewUnaryHandler("/test.v1.Test/Slow",
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			time.Sleep(300 * time.Millisecond)
			return connect.NewResponse(&emptypb.Empty{}), nil
		}))
	mux.Handle("/test.v1.Test/Updates", connect.NewServerStreamHandler("/test.v1.Test/Updates",
		func(ctx context.Context, _ *connect.Request[emptypb.Empty], stream *connect.ServerStream[structpb.Value]) error {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					if err := stream.Send(structpb.NewStringValue("update")); err != nil {
						return err
					}
				case <-drain.Draining(ctx):
					return connect.NewError(connect.CodeUnavailable, errors.New("server shutting down: reconnect"))
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}))
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	ln := loopback(t)
	h := &drain.HTTP{Server: &http.Server{Handler: mux, Protocols: &protocols}, Listener: ln, Logger: testLogger(t)}
	served := serve(t, h)

	clientProtocols := new(http.Protocols)
	clientProtocols.SetUnencryptedHTTP2(true)
	hc := &http.Client{Transport: &http.Transport{Protocols: clientProtocols}}
	defer hc.CloseIdleConnections()
	base := "http://" + ln.Addr().String()
	updates := connect.NewClient[emptypb.Empty, structpb.Value](hc, base+"/test.v1.Test/Updates")
	slow := connect.NewClient[emptypb.Empty, emptypb.Empty](hc, base+"/test.v1.Test/Slow")

	stream, err := updates.CallServerStream(context.Background(), connect.NewRequest(&emptypb.Empty{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("the stream's first message: %v", stream.Err())
	}
	slowDone := make(chan error, 1)
	go func() {
		_, err := slow.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{}))
		slowDone <- err
	}()
	waitFor(t, "the slow RPC", func() bool { return h.Stats().Requests == 2 })

	shut := make(chan error, 1)
	go func() { shut <- shutdown(t, h) }()
	for stream.Receive() {
	}
	if err := stream.Err(); connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "reconnect") {
		t.Errorf("the stream: %v; want the handler's CodeUnavailable", err)
	}
	if err := <-slowDone; err != nil {
		t.Errorf("the unary RPC in flight: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}
