package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/drain-go/drain/internal/probe/wire"
)

// An Outcome is what became of one request. See the package documentation.
type Outcome int

const (
	// Answered: a complete response was read, whatever its status.
	Answered Outcome = iota
	// Refused: no connection could be established, so nothing was sent.
	Refused
	// Lost: the request was written on an established connection and no
	// complete response came back.
	Lost
	// Aborted: the probe gave up on the request when the run ended.
	Aborted
)

func (o Outcome) String() string {
	switch o {
	case Answered:
		return "answered"
	case Refused:
		return "refused"
	case Lost:
		return "lost"
	case Aborted:
		return "aborted"
	}
	return "outcome(?)"
}

// A Reason says why a request was not answered, more precisely than its
// Outcome.
type Reason string

// Reasons for the outcomes Refused, Lost and Aborted.
const (
	// Refused.
	connectRefused Reason = "connect refused" // ECONNREFUSED: nothing listens
	connectReset   Reason = "connect reset"   // reset during the handshake
	connectTimeout Reason = "connect timeout" // no handshake in time (full backlog)
	connectFailed  Reason = "connect failed"  // any other dial error
	// Lost.
	writeFailed          Reason = "write failed"           // the request could not be written
	closedBeforeResponse Reason = "closed before response" // EOF where a response should begin
	resetBeforeResponse  Reason = "reset before response"  // ECONNRESET where a response should begin
	responseTimeout      Reason = "response timeout"       // no response within the request timeout
	badResponse          Reason = "malformed response"     // the bytes were not an HTTP/1 response
	bodyCut              Reason = "body cut short"         // the response's body ended early
	probeStopping        Reason = "probe stopped"          // Aborted

	// Streams (WebSocket and server-sent events).
	streamNotOpened Reason = "stream not opened" // Refused: the handshake failed after the connect
	streamCut       Reason = "stream cut"        // Lost: the stream ended without a clean end
	streamOpenAtEnd Reason = "open at exit"      // Lost: still open when the process exited

	// HTTP/2 streams. Refused: the server did not process the stream, so
	// a client may safely send it again.
	streamAboveGoAway Reason = "above GOAWAY's last stream" // its id was above the last stream the server said it would process
	streamRefused     Reason = "REFUSED_STREAM"             // reset by the server with REFUSED_STREAM
	// Lost.
	streamReset Reason = "stream reset" // reset by the server with another code, after it took the stream
	connLost    Reason = "connection closed under the stream"
	badGRPC     Reason = "no grpc-status" // a gRPC call answered without a gRPC status
)

// judge tells what became of the request of exchange x: how the server
// ended an HTTP/2 stream, or else as [classify] says.
func judge(x wire.Exchange) (Outcome, Reason) {
	switch x.End {
	case wire.EndAboveGoAway:
		return Refused, streamAboveGoAway
	case wire.EndRefused:
		return Refused, streamRefused
	case wire.EndReset:
		return Lost, streamReset
	case wire.EndConnLost:
		return Lost, connLost
	}
	return classify(x.Step, x.Err, false)
}

// grpcAnswer classifies a call whose stream ended cleanly by its gRPC
// status, which the report counts as an HTTP status: OK as 200,
// UNAVAILABLE (14: the server is shutting down, say) as 503, any other as
// 500. A response without a gRPC status is lost: no client can tell what
// became of the call.
func grpcAnswer(x wire.Exchange) (wire.Exchange, Outcome, Reason) {
	switch x.GRPCStatus {
	case "":
		x.Err = fmt.Errorf("HTTP status %d without grpc-status", x.Status)
		return x, Lost, badGRPC
	case "0":
		x.Status = http.StatusOK
	case "14":
		x.Status = http.StatusServiceUnavailable
	default:
		x.Status = http.StatusInternalServerError
	}
	return x, Answered, ""
}

// classify tells what became of a request that failed at step st with err,
// or was answered if err is nil. aborted reports that the probe itself was
// stopping the request (its context ended), which takes precedence: the
// error is then the probe's doing.
func classify(st wire.Step, err error, aborted bool) (Outcome, Reason) {
	switch {
	case err == nil:
		return Answered, ""
	case aborted:
		return Aborted, probeStopping
	}
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	switch st {
	case wire.StepConnect:
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return Refused, connectRefused
		case errors.Is(err, syscall.ECONNRESET):
			return Refused, connectReset
		case timeout:
			return Refused, connectTimeout
		}
		return Refused, connectFailed
	case wire.StepWrite:
		if timeout {
			return Lost, responseTimeout
		}
		return Lost, writeFailed
	case wire.StepHeader:
		switch {
		case timeout:
			return Lost, responseTimeout
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return Lost, closedBeforeResponse
		case errors.Is(err, syscall.ECONNRESET):
			return Lost, resetBeforeResponse
		}
		return Lost, badResponse
	}
	if timeout {
		return Lost, responseTimeout
	}
	return Lost, bodyCut
}
