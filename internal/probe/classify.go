package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// Reasons for the outcomes Refused, Lost and Aborted.
const (
	// Refused.
	connectRefused report.Reason = "connect refused" // ECONNREFUSED: nothing listens
	connectReset   report.Reason = "connect reset"   // reset during the handshake
	connectTimeout report.Reason = "connect timeout" // no handshake in time (full backlog)
	connectFailed  report.Reason = "connect failed"  // any other dial error
	// Lost.
	writeFailed          report.Reason = "write failed"           // the request could not be written
	closedBeforeResponse report.Reason = "closed before response" // EOF where a response should begin
	resetBeforeResponse  report.Reason = "reset before response"  // ECONNRESET where a response should begin
	responseTimeout      report.Reason = "response timeout"       // no response within the request timeout
	badResponse          report.Reason = "malformed response"     // the bytes were not an HTTP/1 response
	bodyCut              report.Reason = "body cut short"         // the response's body ended early
	probeStopping        report.Reason = "probe stopped"          // Aborted

	// Streams (WebSocket and server-sent events).
	streamNotOpened report.Reason = "stream not opened" // Refused: the handshake failed after the connect
	streamCut       report.Reason = "stream cut"        // Lost: the stream ended without a clean end
	streamOpenAtEnd report.Reason = "open at exit"      // Lost: still open when the process exited

	// HTTP/2 streams. Refused: the server did not process the stream, so
	// a client may safely send it again.
	streamAboveGoAway report.Reason = "above GOAWAY's last stream" // its id was above the last stream the server said it would process
	streamRefused     report.Reason = "REFUSED_STREAM"             // reset by the server with REFUSED_STREAM
	// Lost.
	streamReset report.Reason = "stream reset" // reset by the server with another code, after it took the stream
	connLost    report.Reason = "connection closed under the stream"
	badGRPC     report.Reason = "no grpc-status" // a gRPC call answered without a gRPC status
)

// judge tells what became of the request of exchange x: how the server
// ended an HTTP/2 stream, or else as [classify] says.
func judge(x wire.Exchange) (report.Outcome, report.Reason) {
	switch x.End {
	case wire.EndAboveGoAway:
		return report.Refused, streamAboveGoAway
	case wire.EndRefused:
		return report.Refused, streamRefused
	case wire.EndReset:
		return report.Lost, streamReset
	case wire.EndConnLost:
		return report.Lost, connLost
	}
	return classify(x.Step, x.Err, false)
}

// grpcAnswer classifies a call whose stream ended cleanly by its gRPC
// status, which the report counts as an HTTP status: OK as 200,
// UNAVAILABLE (14: the server is shutting down, say) as 503, any other as
// 500. A response without a gRPC status is lost: no client can tell what
// became of the call.
func grpcAnswer(x wire.Exchange) (wire.Exchange, report.Outcome, report.Reason) {
	switch x.GRPCStatus {
	case "":
		x.Err = fmt.Errorf("HTTP status %d without grpc-status", x.Status)
		return x, report.Lost, badGRPC
	case "0":
		x.Status = http.StatusOK
	case "14":
		x.Status = http.StatusServiceUnavailable
	default:
		x.Status = http.StatusInternalServerError
	}
	return x, report.Answered, ""
}

// classify tells what became of a request that failed at step st with err,
// or was answered if err is nil. aborted reports that the probe itself was
// stopping the request (its context ended), which takes precedence: the
// error is then the probe's doing.
func classify(st wire.Step, err error, aborted bool) (report.Outcome, report.Reason) {
	switch {
	case err == nil:
		return report.Answered, ""
	case aborted:
		return report.Aborted, probeStopping
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
			return report.Refused, connectRefused
		case errors.Is(err, syscall.ECONNRESET):
			return report.Refused, connectReset
		case timeout:
			return report.Refused, connectTimeout
		}
		return report.Refused, connectFailed
	case wire.StepWrite:
		if timeout {
			return report.Lost, responseTimeout
		}
		return report.Lost, writeFailed
	case wire.StepHeader:
		switch {
		case timeout:
			return report.Lost, responseTimeout
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return report.Lost, closedBeforeResponse
		case errors.Is(err, syscall.ECONNRESET):
			return report.Lost, resetBeforeResponse
		}
		return report.Lost, badResponse
	}
	if timeout {
		return report.Lost, responseTimeout
	}
	return report.Lost, bodyCut
}
