//go:build !linux

package proc

import (
	"errors"
	"os"
)

// A Watched process is one the probe did not start. Watching one needs
// Linux's pidfd.
type Watched struct{}

// Watch would start watching process pid: it returns an error.
func Watch(pid int) (*Watched, error) {
	return nil, errors.New("probe: Config.PID needs Linux (pidfd)")
}

func (w *Watched) PID() int                   { return 0 }
func (w *Watched) Signal(sig os.Signal) error { return errors.ErrUnsupported }
func (w *Watched) Kill() error                { return errors.ErrUnsupported }
func (w *Watched) Done() <-chan struct{}      { return nil }
func (w *Watched) Exit() Exit                 { return Exit{} }
func (w *Watched) Close() error               { return nil }
