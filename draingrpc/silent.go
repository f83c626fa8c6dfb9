package draingrpc

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/drain-go/drain"
)

// grpc-go's GracefulStop waits, before it sends a single GOAWAY, for every
// connection still in its handshake: one that has sent nothing holds it
// until grpc.ConnectionTimeout (120 s by default) expires, while the
// other connections are served as if nothing had happened. Browsers'
// preconnects, load balancers' TCP checks and port scanners open such
// connections. A connection that has sent nothing is not an RPC, so the
// drain closes those that have nothing waiting to be read, as drain.HTTP
// closes silent connections, before it calls GracefulStop.

// A trackedListener hands grpc-go connections that the server can find
// again at the drain.
type trackedListener struct {
	*drain.Listener
	set *silentSet
}

func (l trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.set.track(c), nil
}

// A silentSet is the connections accepted that have not yet sent a byte.
type silentSet struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (s *silentSet) track(c net.Conn) *trackedConn {
	tc := &trackedConn{Conn: c, set: s}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[*trackedConn]struct{})
	}
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	return tc
}

func (s *silentSet) forget(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeSilent closes the connections that have sent nothing and have
// nothing waiting to be read, and returns how many it closed.
func (s *silentSet) closeSilent() int {
	s.mu.Lock()
	var silent []*trackedConn
	for c := range s.conns {
		if !c.spoke.Load() {
			silent = append(silent, c)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, c := range silent {
		if !pending(c.Conn) {
			c.Close()
			n++
		}
	}
	return n
}

// A trackedConn notes whether its peer has sent anything.
type trackedConn struct {
	net.Conn
	set   *silentSet
	spoke atomic.Bool
	once  sync.Once
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
		c.set.forget(c)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.set.forget(c) })
	return c.Conn.Close()
}

// SyscallConn gives grpc-go (channelz) the socket underneath.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNoSyscallConn
	}
	return sc.SyscallConn()
}
