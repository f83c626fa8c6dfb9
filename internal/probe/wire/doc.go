// Package wire is the probe's client, in HTTP/1.1, HTTP/2 and gRPC, and
// its streams (WebSocket, server-sent events, gRPC Watch): each request
// written once and never retried, so that the probe sees exactly what a
// server does to it.
//
//	d := wire.Dialer{Addr: "127.0.0.1:8080", Host: "127.0.0.1:8080", HTTP2: true, Timeout: 10 * time.Second}
//	s, x := d.Dial(ctx)
//	if s == nil {
//		return x.Err // x.Step is StepConnect, or where the handshake failed
//	}
//	defer s.Close()
//	out := make(chan wire.Exchange, 1)
//	s.Send(wire.Request{Method: "GET", Path: "/"}, 1, out)
//	x = <-out // x.Status; or x.Step, x.End and x.Err
//
// An [Exchange] is what the protocol did to one request or stream: it was
// answered (Err is nil), or it failed at a [Step] with an error, and for
// an HTTP/2 stream the server ended without a response, how ([End]):
// above the last stream of a GOAWAY, reset with REFUSED_STREAM or another
// code, or cut with its connection. It does not judge it: telling refused
// from lost, and why, counting, and what a gRPC status means are the
// business of package probe.
//
// # Clients
//
//   - [Client]: raw HTTP/1.1 over one connection at a time, each request
//     written with a single write, its response parsed with net/http's
//     ReadResponse.
//   - [Session], from [Dialer.Dial]: one connection of a client, HTTP/1
//     (a Client, one request at a time) or HTTP/2 (h2c with prior
//     knowledge, or TLS with ALPN h2; as many streams in flight as the
//     server allows, a read loop of the connection's own ending each).
//   - [Stream], from [Dialer.OpenWebSocket], [Dialer.OpenSSE] and
//     [Dialer.OpenWatch]: a stream kept open and read until the server
//     ends it.
//
// gRPC calls are HTTP/2 streams to the standard health service
// ([HealthRequest]): no protobuf but the few bytes written here.
//
// Cost per HTTP/1 request, from the memory profile of probe's
// BenchmarkClient: 7 allocations, about 650 bytes, all of them
// ReadResponse's.
package wire
