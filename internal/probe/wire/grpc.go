package wire

import (
	"encoding/binary"
	"net/http"
	"time"
)

// The probe loads a gRPC server through the standard health service,
// grpc.health.v1.Health, which servers register without any protobuf of
// their own: Check in loops, and Watch streams kept open
// ([Dialer.OpenWatch]). Calls are HTTP/2 streams (see h2.go); the few
// bytes of protobuf they need are written here.

// HealthRequest returns the request of a Health method ("Check" or
// "Watch") for service ("" for the server as a whole), each stream bounded
// by timeout (0: none).
func HealthRequest(method, service string, timeout time.Duration) Request {
	// HealthCheckRequest{service}: field 1, length-delimited.
	var msg []byte
	if service != "" {
		msg = append([]byte{0x0a}, binary.AppendUvarint(nil, uint64(len(service)))...)
		msg = append(msg, service...)
	}
	// A gRPC message: not compressed, its length, itself.
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)
	return Request{
		Method:  http.MethodPost,
		Path:    "/grpc.health.v1.Health/" + method,
		Header:  [][2]string{{"content-type", "application/grpc"}, {"te", "trailers"}},
		Body:    body,
		Timeout: timeout,
		GRPC:    true,
	}
}
