//go:build !linux

package drain

import (
	"net"
	"time"
)

// acceptFlushWindow is how long a stopping listener keeps accepting before
// it closes: the connections queued in the kernel are accepted within it,
// though one completed between its end and the close is reset.
const acceptFlushWindow = 5 * time.Millisecond

// sweepClose closes ln. Outside Linux there is no portable way to stop the
// kernel from completing handshakes first; acceptFlushWindow does most of
// the work.
func sweepClose(ln net.Listener) []net.Conn {
	ln.Close()
	return nil
}
