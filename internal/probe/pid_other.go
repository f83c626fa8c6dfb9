//go:build !linux

package probe

import (
	"errors"
	"os"
)

// A watched process is one the probe did not start ([Config.PID]).
// Watching one needs Linux's pidfd.
type watched struct{}

func watchPID(pid int) (*watched, error) {
	return nil, errors.New("probe: Config.PID needs Linux (pidfd)")
}

func (w *watched) processID() int             { return 0 }
func (w *watched) signal(sig os.Signal) error { return errors.ErrUnsupported }
func (w *watched) kill() error                { return errors.ErrUnsupported }
func (w *watched) done() <-chan struct{}      { return nil }
func (w *watched) exit() Exit                 { return Exit{} }
func (w *watched) close() error               { return nil }
