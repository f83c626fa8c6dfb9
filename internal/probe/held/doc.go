// Package held keeps the connections the probe holds open and quiet (idle
// keep-alive connections, silent sockets) and tells when the server closes
// each of them: a [Watcher] notices a peer's close or reset the moment it
// happens, and [Conns] keeps, for a set of connections, when each was
// seen closed.
//
//	w, err := held.NewWatcher()
//	if err != nil {
//		return err
//	}
//	defer w.Stop()
//	idle := held.NewConns(w)
//	idle.Add(nc)
//	...
//	w.Stop()
//	fmt.Println(idle.Len(), idle.Open(), idle.CloseTimes())
//	idle.CloseAll()
//
// It does not open the connections nor send on them, and does not judge
// when the server closed them: that is package probe's business.
//
// # Cost
//
// On Linux one goroutine watches every connection: their sockets are in
// an epoll set of the watcher's own, itself in the runtime's netpoller, so
// that the goroutine wakes only when a connection closes. Elsewhere each
// connection has a goroutine blocked in a read.
package held
