// Package wire is the probe's HTTP/1.1 client: one connection at a time,
// each request written once with a single write and never retried, its
// response parsed with net/http's ReadResponse, so that the probe sees
// exactly what a server does to the connection.
//
// An [Exchange] is what became of one request, down to the [Step] where it
// failed and the error; it does not judge it. Telling refused from lost,
// and why, counting, and the HTTP/2, gRPC and stream clients are the
// business of package probe.
//
// Cost per request, from the memory profile of probe's BenchmarkClient: 7
// allocations, about 650 bytes, all of them ReadResponse's.
package wire
