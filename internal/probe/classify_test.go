package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

func TestClassify(t *testing.T) {
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
	}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		st      wire.Step
		err     error
		aborted bool
		want    report.Outcome
		why     report.Reason
	}{
		{wire.StepHeader, nil, false, report.Answered, ""},
		{wire.StepHeader, nil, true, report.Answered, ""},
		{wire.StepConnect, opErr("connect", syscall.ECONNREFUSED), false, report.Refused, connectRefused},
		{wire.StepConnect, opErr("connect", syscall.ECONNRESET), false, report.Refused, connectReset},
		{wire.StepConnect, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, false, report.Refused, connectTimeout},
		{wire.StepConnect, opErr("socket", syscall.EMFILE), false, report.Refused, connectFailed},
		{wire.StepConnect, opErr("connect", syscall.ECONNREFUSED), true, report.Aborted, probeStopping},
		{wire.StepWrite, opErr("write", syscall.EPIPE), false, report.Lost, writeFailed},
		{wire.StepWrite, opErr("write", syscall.ECONNRESET), false, report.Lost, writeFailed},
		{wire.StepHeader, io.EOF, false, report.Lost, closedBeforeResponse},
		{wire.StepHeader, io.ErrUnexpectedEOF, false, report.Lost, closedBeforeResponse},
		{wire.StepHeader, opErr("read", syscall.ECONNRESET), false, report.Lost, resetBeforeResponse},
		{wire.StepHeader, timeout, false, report.Lost, responseTimeout},
		{wire.StepHeader, timeout, true, report.Aborted, probeStopping},
		{wire.StepHeader, errors.New(`malformed HTTP response "SSH-2.0"`), false, report.Lost, badResponse},
		{wire.StepBody, io.ErrUnexpectedEOF, false, report.Lost, bodyCut},
		{wire.StepBody, opErr("read", syscall.ECONNRESET), false, report.Lost, bodyCut},
		{wire.StepBody, timeout, false, report.Lost, responseTimeout},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%v/aborted=%v", tt.st, tt.err, tt.aborted), func(t *testing.T) {
			got, why := classify(tt.st, tt.err, tt.aborted)
			if got != tt.want || why != tt.why {
				t.Errorf("classify = %v (%q), want %v (%q)", got, why, tt.want, tt.why)
			}
		})
	}
}
