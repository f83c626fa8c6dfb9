package report

import "time"

// Load describes the load the probe puts on the server. Each kind of load
// is off when its count is zero.
type Load struct {
	// Busy is the number of clients that send BusyMethod BusyPath back to
	// back over keep-alive connections from the start of the load until
	// the process exits. A client told "Connection: close" (or whose
	// connection failed) reconnects; a client whose new connection is
	// refused stops.
	Busy int
	// BusyPath defaults to probe.DefaultBusyPath.
	BusyPath string
	// BusyMethod is GET or POST; a POST carries a small fixed body with
	// its Content-Length. Defaults to probe.DefaultMethod, GET.
	BusyMethod string

	// Conns is the number of clients that send BusyMethod BusyPath back
	// to back, each on a new connection, which they close once answered:
	// they find a listener that stops accepting, or an accept queue swept
	// at a shutdown or an upgrade. A client whose connection is refused
	// stops, as a busy client does.
	Conns int

	// Slow is the number of SlowMethod SlowPath requests sent when the
	// load starts, each on its own connection, meant to be in flight at
	// the signal: SlowPath should take longer to answer than Warmup.
	Slow int
	// SlowPath defaults to probe.DefaultSlowPath.
	SlowPath string
	// SlowMethod is GET or POST, as BusyMethod. Defaults to GET.
	SlowMethod string

	// Idle is the number of keep-alive connections that send one
	// GET IdlePath before the load starts, then stay open and quiet.
	Idle int
	// IdlePath defaults to probe.DefaultIdlePath.
	IdlePath string

	// Silent is the number of connections opened before the load starts
	// that send nothing, as browsers preconnect, or, with SilentSend, the
	// start of a request that never ends.
	Silent int
	// SilentSend, if set, is what each silent socket sends once connected,
	// and then nothing more: the start of a request header, as a client
	// that stalled half-way sends. With SilentEvery, it sends it a byte at
	// a time, one every SilentEvery, and then a header line that never
	// ends, as a client that trickles its request does.
	SilentSend string
	// SilentEvery is how often a trickling silent socket sends a byte;
	// 0 sends SilentSend at once.
	SilentEvery time.Duration

	// WebSockets is the number of WebSocket streams opened on
	// WebSocketPath after the idle connections and the silent sockets,
	// before the load starts. They send nothing and read (and discard)
	// whatever the server sends until it closes them. A stream is
	// answered if the server ends it with a close frame (a server shutting
	// down should send 1001, "going away"), lost if it is cut without one
	// or still open when the process exits, refused if it could not be
	// opened.
	WebSockets int
	// WebSocketPath defaults to probe.DefaultWebSocketPath.
	WebSocketPath string

	// SSE is the number of server-sent event streams: GET SSEPath with
	// "Accept: text/event-stream", opened after the WebSockets; their
	// responses are read (and discarded) until they end. A stream is
	// answered if its body ends cleanly (the last chunk of a chunked body,
	// the whole of a Content-Length, or the connection's end when neither
	// delimits it), lost if it is cut or still open when the process
	// exits, refused if it could not be opened or its status was not 2xx.
	SSE int
	// SSEPath defaults to probe.DefaultSSEPath.
	SSEPath string

	// DialConcurrency bounds how many idle connections, silent sockets
	// and streams are being opened at once. Defaults to
	// probe.DefaultDialConcurrency.
	DialConcurrency int

	// RequestTimeout bounds each connect, each request from its write to
	// the end of its response (a request that takes longer is lost), and
	// the opening of each stream. Defaults to probe.DefaultRequestTimeout.
	RequestTimeout time.Duration

	// HTTP2 sends the busy and slow requests over HTTP/2 without TLS
	// (h2c, with prior knowledge), each a stream: a busy client keeps
	// Streams streams in flight on one connection, and after a GOAWAY,
	// once its streams have ended, opens a new connection. A stream the
	// server did not process (above GOAWAY's last stream id, or reset with
	// REFUSED_STREAM) is [Refused], safe to send again; one reset or cut
	// after the server took it is [Lost]. The idle connections, silent
	// sockets and streams stay HTTP/1.
	HTTP2 bool
	// Streams is how many streams each busy client keeps in flight with
	// HTTP2, at most what the server allows. Defaults to
	// probe.DefaultStreams.
	Streams int

	// GRPC loads a gRPC server through its standard health service
	// (grpc.health.v1.Health), so that none of its own protobuf is
	// needed: the busy clients send Check for GRPCService ("" for the
	// server as a whole) over HTTP/2, Streams calls in flight each, and
	// Watches Watch streams stay open. A call is answered if it ends with
	// a gRPC status, counted as an HTTP one (OK as 200, UNAVAILABLE as
	// 503, others as 500); refused if the server did not take its stream
	// (as with HTTP2: safe to retry); lost otherwise. A Watch stream ends
	// cleanly with a gRPC status. Slow, Idle, WebSockets and SSE must be
	// 0: they are HTTP/1 or HTTP paths a gRPC server does not serve.
	GRPC        bool
	GRPCService string
	Watches     int

	// TLS speaks TLS to the server, with HTTP2 or GRPC only: ALPN h2, the
	// server's certificate not verified (the probe judges shutdowns, not
	// certificates). Idle, WebSockets and SSE must be 0; silent sockets
	// stay plain TCP connections, as they send nothing.
	TLS bool
}
