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

func (w *watched) Pid() int                   { return 0 }
func (w *watched) Signal(sig os.Signal) error { return errors.ErrUnsupported }
func (w *watched) Kill() error                { return errors.ErrUnsupported }
func (w *watched) Done() <-chan struct{}      { return nil }
func (w *watched) Exit() Exit                 { return Exit{} }
func (w *watched) Close() error               { return nil }
