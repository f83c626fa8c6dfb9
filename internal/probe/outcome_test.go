package probe

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
	opErr := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
	}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		st      step
		err     error
		aborted bool
		want    Outcome
		why     Reason
	}{
		{stepHeader, nil, false, Answered, ""},
		{stepHeader, nil, true, Answered, ""},
		{stepConnect, opErr("connect", syscall.ECONNREFUSED), false, Refused, connectRefused},
		{stepConnect, opErr("connect", syscall.ECONNRESET), false, Refused, connectReset},
		{stepConnect, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, false, Refused, connectTimeout},
		{stepConnect, opErr("socket", syscall.EMFILE), false, Refused, connectFailed},
		{stepConnect, opErr("connect", syscall.ECONNREFUSED), true, Aborted, probeStopping},
		{stepWrite, opErr("write", syscall.EPIPE), false, Lost, writeFailed},
		{stepWrite, opErr("write", syscall.ECONNRESET), false, Lost, writeFailed},
		{stepHeader, io.EOF, false, Lost, closedBeforeResponse},
		{stepHeader, io.ErrUnexpectedEOF, false, Lost, closedBeforeResponse},
		{stepHeader, opErr("read", syscall.ECONNRESET), false, Lost, resetBeforeResponse},
		{stepHeader, timeout, false, Lost, responseTimeout},
		{stepHeader, timeout, true, Aborted, probeStopping},
		{stepHeader, errors.New(`malformed HTTP response "SSH-2.0"`), false, Lost, badResponse},
		{stepBody, io.ErrUnexpectedEOF, false, Lost, bodyCut},
		{stepBody, opErr("read", syscall.ECONNRESET), false, Lost, bodyCut},
		{stepBody, timeout, false, Lost, responseTimeout},
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
