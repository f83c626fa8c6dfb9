//go:build !unix

package proc

import (
	"errors"
	"os"
	"os/exec"
)

func inGroup(*exec.Cmd) {}

func killGroup(int) {}

func signalGroup(int, os.Signal) error {
	return errors.New("process groups are not supported on this platform")
}
