package draingrpc_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// calls is what became of the unary RPCs of callInLoops.
type calls struct {
	ok, refused int64
	failed      []error   // neither answered nor refused: lost
	last        time.Time // when the last answer came
}

// callInLoops runs n callers that each send a short UnaryCall after
// another, as a loaded client does, until the returned function is
// called; it returns what became of the RPCs. A caller whose RPC was
// refused (sent nowhere: no server listens) waits 10ms before the next,
// as a client backs off.
func callInLoops(client testpb.TestServiceClient, n int) (stop func() calls) {
	var ok, refusedN, last atomic.Int64
	var mu sync.Mutex
	var failed []error
	var wg sync.WaitGroup
	quit := make(chan struct{})
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-quit:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 1})
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
					last.Store(time.Now().UnixNano())
				case refused(err):
					refusedN.Add(1)
					time.Sleep(10 * time.Millisecond)
				default:
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
				}
			}
		})
	}
	return func() calls {
		close(quit)
		wg.Wait()
		return calls{ok: ok.Load(), refused: refusedN.Load(), failed: failed, last: time.Unix(0, last.Load())}
	}
}

// refused reports whether an RPC failed without being sent: its
// connection was refused.
func refused(err error) bool {
	msg := status.Convert(err).Message()
	return status.Code(err) == codes.Unavailable && (strings.Contains(msg, "connection refused") || strings.Contains(msg, "while dialing"))
}

// endedByServer reports whether a stream ended as its server meant: with
// the UNAVAILABLE its handler, or draingrpc for a health Watch, returned,
// rather than cut with its connection.
func endedByServer(err error) bool {
	msg := status.Convert(err).Message()
	return status.Code(err) == codes.Unavailable && (strings.Contains(msg, "reconnect") || strings.Contains(msg, "shutting down"))
}
