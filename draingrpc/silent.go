package draingrpc

import (
	"net"
	"sync"
	"time"

	"github.com/drain-go/drain"
)

// grpc-go's GracefulStop waits, before it sends a single GOAWAY, for every
// connection still in its handshake: one that has sent nothing holds it
// until grpc.ConnectionTimeout (120 s by default) expires, while the
// other connections are served as if nothing had happened. Browsers'
// preconnects, load balancers' TCP checks and port scanners open such
// connections. A connection that has sent nothing is not an RPC, so the
// drain closes those that have received nothing at all, as drain.HTTP
// closes silent connections, before it calls GracefulStop.
//
// The connections are handed to grpc-go as they are, not wrapped: it
// sets TCP_USER_TIMEOUT and reads without blocking only on a
// *net.TCPConn.

// handshakeLimit bounds how long a connection is remembered without its
// handshake completing: longer than grpc.ConnectionTimeout's default, so
// that grpc-go has closed it by then.
const handshakeLimit = 150 * time.Second

// A trackedListener notes every connection it hands grpc-go.
type trackedListener struct {
	*drain.Listener
	set *silentSet
}

func (l trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.set.add(c)
	}
	return c, err
}

// A silentSet is the connections accepted whose handshake has not
// completed, by remote address.
type silentSet struct {
	mu    sync.Mutex
	conns map[string]handshaking
}

type handshaking struct {
	c  net.Conn
	at time.Time
}

func (s *silentSet) add(c net.Conn) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = make(map[string]handshaking)
	}
	// Those remembered too long have been closed by grpc-go: forget them,
	// so that the set stays small.
	for k, h := range s.conns {
		if now.Sub(h.at) > handshakeLimit {
			delete(s.conns, k)
		}
	}
	s.conns[c.RemoteAddr().String()] = handshaking{c, now}
}

// handshook forgets the connection from remote: its handshake completed
// (grpc-go tags it). Without the drain's stats handler (a grpc.Server made
// elsewhere), connections are forgotten by age only, and closeSilent
// looks at what each has received.
func (s *silentSet) handshook(remote net.Addr) {
	if remote == nil {
		return
	}
	s.mu.Lock()
	delete(s.conns, remote.String())
	s.mu.Unlock()
}

// closeSilent closes the connections whose handshake has not completed
// and that have received nothing, and returns how many it closed.
func (s *silentSet) closeSilent() int {
	s.mu.Lock()
	var waiting []net.Conn
	for _, h := range s.conns {
		waiting = append(waiting, h.c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range waiting {
		if !received(c) {
			c.Close()
			n++
		}
	}
	return n
}
