//go:build linux

package systemd

import (
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// abstractOK reports whether the system has abstract socket addresses.
const abstractOK = true

// sendFlags: no SIGPIPE, even though a datagram socket without a peer
// raises none.
const sendFlags = syscall.MSG_NOSIGNAL

// newSocket opens a datagram Unix socket, close-on-exec from the start so
// that no child started meanwhile inherits it.
func newSocket() (int, error) {
	return syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
}

// monotonicNow reads CLOCK_MONOTONIC, the clock systemd reads for
// MONOTONIC_USEC (Go's own monotonic readings start at the process's
// start, not at boot).
func monotonicNow() int64 {
	const clockMonotonic = 1
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0 // Linux cannot fail here: the clock exists and ts is valid memory.
	}
	return ts.Nano()
}

// pidfdMatches reports whether id, from $LISTEN_PIDFDID (systemd 258),
// is the inode number of a pidfd for this process, which tells this
// process from another that got the same PID in another namespace. Where
// that cannot be asked (kernels before 6.9, without pidfs; 32-bit systems,
// where the inode number is not the id), it reports true, as libsystemd
// does.
func pidfdMatches(id uint64) bool {
	if unsafe.Sizeof(uintptr(0)) < 8 {
		return true
	}
	sysPidfdOpen := uintptr(434) // on every 64-bit architecture but MIPS
	if runtime.GOARCH == "mips64" || runtime.GOARCH == "mips64le" {
		sysPidfdOpen = 5434
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(os.Getpid()), 0, 0)
	if errno != 0 {
		return true
	}
	defer syscall.Close(int(fd))
	var fs syscall.Statfs_t
	if err := syscall.Fstatfs(int(fd), &fs); err != nil || fs.Type != 0x50494446 { // PID_FS_MAGIC
		return true
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(fd), &st); err != nil {
		return true
	}
	return st.Ino == id
}
