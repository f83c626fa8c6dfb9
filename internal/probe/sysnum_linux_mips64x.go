//go:build linux && (mips64 || mips64le)

package probe

// The numbers of the pidfd system calls: see sysnum_linux.go.
const (
	sysPidfdSendSignal = 5424
	sysPidfdOpen       = 5434
)
