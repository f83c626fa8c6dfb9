//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package probe

// The numbers of the pidfd system calls (Linux 5.3 and later), the same on
// every architecture but MIPS; package syscall names them only for some.
const (
	sysPidfdSendSignal = 424
	sysPidfdOpen       = 434
)
