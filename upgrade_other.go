//go:build !unix

package drain

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Upgrades need a Unix system: see Upgrader.
const upgradesSupported = false

var sigHUP os.Signal // none: Run refuses an Upgrader

var errNoUpgrades = errors.New("upgrades need a Unix system")

func inheritFile(int, string) *os.File { return nil }

func dupFile(syscall.Conn, string) (*os.File, error) { return nil, errNoUpgrades }

type parentLink struct{ goc, abort chan struct{} }

func newParentLink(*os.File, int) (*parentLink, error) { return nil, errNoUpgrades }

func (p *parentLink) start()       {}
func (p *parentLink) ready() error { return errNoUpgrades }
func (p *parentLink) close()       {}

func (u *Upgrader) upgrade(_, _ time.Duration, _, _ <-chan struct{}, decided chan<- error) (int, error) {
	decided <- errNoUpgrades
	return 0, errNoUpgrades
}
