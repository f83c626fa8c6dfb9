package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

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
		want    Outcome
		why     Reason
	}{
		{wire.StepHeader, nil, false, Answered, ""},
		{wire.StepHeader, nil, true, Answered, ""},
		{wire.StepConnect, opErr("connect", syscall.ECONNREFUSED), false, Refused, connectRefused},
		{wire.StepConnect, opErr("connect", syscall.ECONNRESET), false, Refused, connectReset},
		{wire.StepConnect, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, false, Refused, connectTimeout},
		{wire.StepConnect, opErr("socket", syscall.EMFILE), false, Refused, connectFailed},
		{wire.StepConnect, opErr("connect", syscall.ECONNREFUSED), true, Aborted, probeStopping},
		{wire.StepWrite, opErr("write", syscall.EPIPE), false, Lost, writeFailed},
		{wire.StepWrite, opErr("write", syscall.ECONNRESET), false, Lost, writeFailed},
		{wire.StepHeader, io.EOF, false, Lost, closedBeforeResponse},
		{wire.StepHeader, io.ErrUnexpectedEOF, false, Lost, closedBeforeResponse},
		{wire.StepHeader, opErr("read", syscall.ECONNRESET), false, Lost, resetBeforeResponse},
		{wire.StepHeader, timeout, false, Lost, responseTimeout},
		{wire.StepHeader, timeout, true, Aborted, probeStopping},
		{wire.StepHeader, errors.New(`malformed HTTP response "SSH-2.0"`), false, Lost, badResponse},
		{wire.StepBody, io.ErrUnexpectedEOF, false, Lost, bodyCut},
		{wire.StepBody, opErr("read", syscall.ECONNRESET), false, Lost, bodyCut},
		{wire.StepBody, timeout, false, Lost, responseTimeout},
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

func TestCounts(t *testing.T) {
	var c Counts
	c.count(Answered, 200, 1)
	c.count(Answered, 204, 2)
	c.count(Answered, 503, 3)
	c.count(Answered, 0, 1)
	c.count(Refused, 0, 0)
	c.count(Lost, 0, 1)
	c.count(Lost, 0, 7)
	c.count(Aborted, 0, 1)
	want := Counts{Status: [6]int{0: 1, 2: 2, 5: 1}, Refused: 1, Lost: 2, LostReused: 1, Aborted: 1}
	if c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	if c.Answered() != 4 || c.Total() != 8 {
		t.Errorf("Answered %d, Total %d; want 4, 8", c.Answered(), c.Total())
	}
}
