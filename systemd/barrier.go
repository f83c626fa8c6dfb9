package systemd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Barrier sends BARRIER=1 with the write end of a pipe and waits until the
// manager has processed every notification sent before it (the manager
// closes its copy of the write end, and the read end sees EOF), or ctx
// ends; then it returns ctx's error. Either way it closes both ends of
// the pipe and leaves no goroutine behind. A nil Notifier returns nil at
// once.
//
// Use it where the order matters to the manager across processes: the old
// process of an upgrade sends MAINPID= and waits on Barrier before it lets
// the new one send READY=1.
func (n *Notifier) Barrier(ctx context.Context) error {
	if n == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("systemd: barrier: %w", err)
	}
	defer r.Close()
	// The read end must be one whose Read a deadline interrupts.
	if err := r.SetReadDeadline(time.Time{}); err != nil {
		w.Close()
		return fmt.Errorf("systemd: barrier: %w", err)
	}
	err = n.NotifyFiles([]*os.File{w}, "BARRIER=1")
	// From now on the manager holds the only write end.
	w.Close()
	if err != nil {
		return err
	}

	// The read happens here, not in a goroutine: when ctx ends, a deadline
	// in the past interrupts it, and stopped tells once that is done.
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		r.SetReadDeadline(time.Unix(1, 0))
		close(stopped)
	})
	var buf [64]byte
	for {
		_, err = r.Read(buf[:])
		if err != nil {
			break
		}
		// The manager writes nothing; read on to the EOF whatever it does.
	}
	if !stop() {
		<-stopped
	}
	switch {
	case err == io.EOF:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("systemd: barrier: %w", err)
	}
}
