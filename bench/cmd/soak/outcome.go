//go:build unix

package main

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// An outcome is what became of one request.
type outcome int

const (
	// answered: a complete response was read, whatever its status.
	answered outcome = iota
	// lost: the request was written (or its write was attempted) on an
	// established connection, and no complete response came back.
	lost
	// refused: no connection could be established, so nothing was
	// written.
	refused
	// aborted: the soak gave up on the request because it was
	// interrupted; it says nothing about the server.
	aborted
)

func (o outcome) String() string {
	switch o {
	case answered:
		return "answered"
	case lost:
		return "lost"
	case refused:
		return "refused"
	case aborted:
		return "aborted"
	}
	return "outcome(?)"
}

// A reason says why a request was lost or refused.
type reason string

// The reasons, by outcome.
const (
	// refused
	connectRefused reason = "connect refused" // ECONNREFUSED: nothing listens
	connectReset   reason = "connect reset"   // reset during the handshake
	connectTimeout reason = "connect timeout" // no handshake in time (full backlog)
	connectFailed  reason = "connect failed"  // any other dial error

	// lost
	writeFailed reason = "write failed"           // the connection broke before the request was written
	closedEarly reason = "closed before response" // EOF where a response should begin
	resetEarly  reason = "reset before response"  // ECONNRESET where a response should begin
	timedOut    reason = "response timeout"       // no response within the request timeout
	badResponse reason = "malformed response"     // the bytes were not an HTTP/1.1 response
	bodyCut     reason = "body cut short"         // the response's body ended early
)

// A step is where in a request's life an error happened.
type step int

const (
	stepConnect step = iota
	stepWrite
	stepHeader // reading the status line and the header
	stepBody
)

// classify tells what became of a request that failed at step st with
// err, or that was answered if err is nil. stopping reports that the soak
// itself was ending the request (it was interrupted), which takes
// precedence: the error is then the soak's doing.
//
// A request whose write fails on an established connection is lost, not
// refused: the server (its kernel) accepted the connection and then
// dropped it, and a client that does not retry fails the request.
func classify(st step, err error, stopping bool) (outcome, reason) {
	switch {
	case err == nil:
		return answered, ""
	case stopping:
		return aborted, ""
	}
	timeout := errors.Is(err, os.ErrDeadlineExceeded)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		timeout = true
	}
	switch st {
	case stepConnect:
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return refused, connectRefused
		case errors.Is(err, syscall.ECONNRESET):
			return refused, connectReset
		case timeout:
			return refused, connectTimeout
		}
		return refused, connectFailed
	case stepWrite:
		if timeout {
			return lost, timedOut
		}
		return lost, writeFailed
	case stepHeader:
		switch {
		case timeout:
			return lost, timedOut
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return lost, closedEarly
		case errors.Is(err, syscall.ECONNRESET):
			return lost, resetEarly
		}
		return lost, badResponse
	}
	if timeout {
		return lost, timedOut
	}
	return lost, bodyCut
}
