//go:build !unix

package systemd

import "errors"

// supported reports whether the protocol can be spoken here: systemd
// runs on Linux only, and sockets passed as on Unix do not exist here.
const supported = false

const abstractOK = false

func (n *Notifier) send(msg []byte, fds []int) error { return errors.ErrUnsupported }

func checkListenFD(fd int) error { return errors.ErrUnsupported }

func monotonicNow() int64 { return 0 }

func pidfdMatches(id uint64) bool { return true }
