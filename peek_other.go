//go:build !unix

package drain

import "syscall"

// hasPendingBytes reports whether bytes from the client wait in the
// kernel, not yet read by the server. Where that cannot be asked, it says
// no, and the grace period alone protects a client's request.
func hasPendingBytes(syscall.Conn) bool { return false }
