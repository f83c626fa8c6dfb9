//go:build !linux

package drain

import (
	"net"
	"syscall"
	"time"
)

// acceptFlushWindow is how long a stopping listener keeps accepting before
// it closes: the connections queued in the kernel are accepted within it,
// though one completed between its end and the close is reset.
const acceptFlushWindow = 5 * time.Millisecond

// keepOutNew would keep new connections out of a listening socket; outside
// Linux there is no portable way, and it reports false.
func keepOutNew(syscall.RawConn) bool { return false }

// pending would report whether connections wait in the accept queue;
// outside Linux it cannot tell.
func pending(syscall.RawConn) (queued, known bool) { return false, false }

// handshakes would count the connections to addr still in their
// handshake; outside Linux it cannot tell.
func handshakes(addr *net.TCPAddr) (n int, known bool) { return 0, false }
