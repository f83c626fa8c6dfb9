package probe

import (
	"context"

	"github.com/drain-go/drain/internal/probe/wire"
)

// An h1session is a client's connection as a [session]: one request at a
// time, each answered before send returns.
type h1session struct {
	c   *wire.Client
	ctx context.Context
}

func (s *h1session) capacity(int) int { return 1 }

// send sends req.raw and reads its response, unless the connection has
// ended (after a failure, or a response that closed it).
func (s *h1session) send(req request, _ int, out chan<- result) bool {
	if !s.c.Connected() {
		return false
	}
	x := s.c.Do(s.ctx, req.raw)
	o, why := classify(x.Step, x.Err, false)
	out <- result{x: x, o: o, why: why}
	return true
}

func (s *h1session) close() { s.c.Close() }
