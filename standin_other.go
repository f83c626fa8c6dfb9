//go:build !linux

package drain

import (
	"errors"
	"log/slog"
	"os"
)

// Standing in for the service needs Linux: see Upgrader.Foreground.
type standIn struct{ peer *os.File }

func newStandIn() (*standIn, error) {
	return nil, errors.New("Foreground needs Linux (a child subreaper)")
}

func (st *standIn) run(int, []os.Signal, *slog.Logger) error { return nil }
