//go:build linux && (mips || mipsle)

package probe

// The numbers of the pidfd system calls: see sysnum_linux.go.
const (
	sysPidfdSendSignal = 4424
	sysPidfdOpen       = 4434
)
