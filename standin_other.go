//go:build !linux

package drain

import (
	"errors"
	"log/slog"
	"os"
)

// Standing in for the service needs Linux (a child subreaper): see
// Upgrader.Foreground.
const standInSupported = false

type standIn struct{ peer *os.File }

func newStandIn() (*standIn, error) { return nil, errors.New("Foreground needs Linux") }

func (st *standIn) close() {}

func (st *standIn) run(int, []os.Signal, <-chan struct{}, *slog.Logger) error { return nil }
