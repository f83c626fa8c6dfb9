package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"
)

// The probe loads a gRPC server through the standard health service,
// grpc.health.v1.Health, which servers register without any protobuf of
// their own: Check in loops, and Watch streams kept open. Calls are HTTP/2
// streams (see h2.go); the few bytes of protobuf they need are written
// here.

// badGRPC is the reason of a call answered without a gRPC status.
const badGRPC Reason = "no grpc-status"

// grpcRequest returns the request of a Health method ("Check" or
// "Watch") for service ("" for the server as a whole).
func grpcRequest(method, service string, timeout time.Duration) request {
	// HealthCheckRequest{service}: field 1, length-delimited.
	var msg []byte
	if service != "" {
		msg = append([]byte{0x0a}, binary.AppendUvarint(nil, uint64(len(service)))...)
		msg = append(msg, service...)
	}
	// A gRPC message: not compressed, its length, itself.
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)
	return request{
		method:  http.MethodPost,
		path:    "/grpc.health.v1.Health/" + method,
		header:  [][2]string{{"content-type", "application/grpc"}, {"te", "trailers"}},
		body:    body,
		timeout: timeout,
		grpc:    true,
	}
}

// grpcAnswer classifies a call whose stream ended cleanly by its gRPC
// status, which the report counts as an HTTP status: OK as 200,
// UNAVAILABLE (14: the server is shutting down, say) as 503, any other as
// 500. A response without a gRPC status is lost: no client can tell what
// became of the call.
func grpcAnswer(r result) result {
	switch r.grpcStatus {
	case "":
		r.o, r.why, r.x.Err = Lost, badGRPC, fmt.Errorf("HTTP status %d without grpc-status", r.x.Status)
	case "0":
		r.x.Status = http.StatusOK
	case "14":
		r.x.Status = http.StatusServiceUnavailable
	default:
		r.x.Status = http.StatusInternalServerError
	}
	return r
}

// openWatch opens a Watch stream on a connection of its own and waits for
// the response's headers.
func (d *driver) openWatch(ctx context.Context) (*stream, wire.Exchange) {
	c, x := d.dialH2(ctx, d.load.RequestTimeout)
	if c == nil {
		return nil, x
	}
	out := make(chan result, 1)
	// A Watch stays open: no timeout but the opening's.
	s := c.open(grpcRequest("Watch", d.load.GRPCService, 0), d.host, 1, out)
	if s == nil {
		c.close()
		x.Done, x.Step, x.Err = time.Now(), wire.StepHeader, errors.New("GOAWAY before the stream")
		return nil, x
	}
	timer := time.NewTimer(d.load.RequestTimeout)
	defer timer.Stop()
	sent := s.x.Sent // set before open returned; the rest of s.x is end's
	select {
	case <-s.opened:
		return &stream{kind: Watch, sent: sent, status: http.StatusOK, h2: c, h2out: out}, wire.Exchange{Sent: sent, Seq: 1, Status: http.StatusOK}
	case r := <-out: // ended before it opened
		c.close()
		if r.o == Answered {
			r.o, r.x.Err = Lost, fmt.Errorf("the Watch stream ended at once, grpc-status %q", r.grpcStatus)
		}
		return nil, r.x
	case <-timer.C:
		x.Err = os.ErrDeadlineExceeded
	case <-ctx.Done():
		x.Err = ctx.Err()
	}
	c.close()
	x.Done, x.Step = time.Now(), wire.StepHeader
	return nil, x
}

// readWatch waits for Watch stream st to end, or ctx to end, and returns
// nil if the server ended it cleanly (with trailers, whatever its status).
// It closes the connection.
func readWatch(ctx context.Context, st *stream) error {
	defer st.h2.close()
	select {
	case r := <-st.h2out:
		if r.o == Answered && r.grpcStatus != "" {
			return nil
		}
		if r.x.Err != nil {
			return r.x.Err
		}
		return errors.New("stream ended without a gRPC status")
	case <-ctx.Done():
		st.h2.nc.Close()
		<-st.h2out
		return ctx.Err()
	}
}
