//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	// The errors as net and net/http return them: wrapped.
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
	}
	deadline := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name     string
		st       step
		err      error
		stopping bool
		want     outcome
		why      reason
	}{
		{"answered", stepHeader, nil, false, answered, ""},
		{"answered while stopping", stepHeader, nil, true, answered, ""},
		{"aborted by the soak", stepHeader, io.EOF, true, aborted, ""},
		{"connect refused", stepConnect, opErr("connect", syscall.ECONNREFUSED), false, refused, connectRefused},
		{"connect reset", stepConnect, opErr("connect", syscall.ECONNRESET), false, refused, connectReset},
		{"connect timeout", stepConnect, &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, false, refused, connectTimeout},
		{"connect failed", stepConnect, opErr("connect", syscall.EADDRNOTAVAIL), false, refused, connectFailed},
		{"write reset", stepWrite, opErr("write", syscall.ECONNRESET), false, lost, writeFailed},
		{"write broken pipe", stepWrite, opErr("write", syscall.EPIPE), false, lost, writeFailed},
		{"write timeout", stepWrite, deadline, false, lost, timedOut},
		{"closed before response", stepHeader, io.EOF, false, lost, closedEarly},
		{"closed mid-header", stepHeader, io.ErrUnexpectedEOF, false, lost, closedEarly},
		{"reset before response", stepHeader, opErr("read", syscall.ECONNRESET), false, lost, resetEarly},
		{"response timeout", stepHeader, deadline, false, lost, timedOut},
		{"malformed response", stepHeader, errors.New(`malformed HTTP response "garbage"`), false, lost, badResponse},
		{"body cut", stepBody, io.ErrUnexpectedEOF, false, lost, bodyCut},
		{"body timeout", stepBody, fmt.Errorf("body: %w", deadline), false, lost, timedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := classify(tt.st, tt.err, tt.stopping)
			if got != tt.want || why != tt.why {
				t.Errorf("classify(%v, %v, %v) = %v, %q; want %v, %q", tt.st, tt.err, tt.stopping, got, why, tt.want, tt.why)
			}
		})
	}
}
