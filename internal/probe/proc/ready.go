package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"
)

// A Readiness check is how the probe learns that a server serves: it
// accepts a TCP connection or, with a path, answers GET path with a 2xx
// status.
type Readiness struct {
	addr, host, path string
	timeout          time.Duration
}

// ErrGone is returned by readiness.wait when its done channel is closed.
var ErrGone = errors.New("probe: gone")

// attemptTimeout bounds each attempt of a readiness check.
const attemptTimeout = time.Second

// Wait tries until the server is ready, done (which may be nil) is
// closed, ctx ends or the timeout passes. There is no event for a server
// starting to serve: retrying with a small backoff is the only way to
// learn it.
func (r Readiness) Wait(ctx context.Context, done <-chan struct{}) error {
	deadline := time.NewTimer(r.timeout)
	defer deadline.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	backoff := 2 * time.Millisecond
	last := "nothing tried"
	for {
		select {
		case <-done:
			return ErrGone
		case <-ctx.Done():
			return fmt.Errorf("probe: waiting for the server to listen: %w", ctx.Err())
		case <-deadline.C:
			if r.path == "" {
				return fmt.Errorf("%w: no connection accepted on %s within %v (last: %s)", ErrNotListening, r.addr, r.timeout, last)
			}
			return fmt.Errorf("%w: no 2xx answer to GET %s from %s within %v (last: %s)", errNotReady, r.path, r.addr, r.timeout, last)
		case <-retry.C:
		}
		ok, what := r.try(ctx)
		if ok {
			return nil
		}
		last = what
		retry.Reset(backoff)
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// try makes one attempt, and says what it got if it failed.
func (r Readiness) try(ctx context.Context) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	if r.path == "" {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", r.addr)
		if err != nil {
			return false, err.Error()
		}
		nc.Close()
		return true, ""
	}
	c := wire.NewClient(r.addr, attemptTimeout)
	defer c.Close()
	x := c.Do(ctx, wire.HTTP1Request(http.MethodGet, r.path, r.host))
	switch {
	case x.Err != nil:
		return false, x.Err.Error()
	case x.Status/100 != 2:
		return false, fmt.Sprintf("status %d", x.Status)
	}
	return true, ""
}
