package systemd

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// listenFdsStart is the first descriptor passed by socket activation
// (SD_LISTEN_FDS_START).
const listenFdsStart = 3

// ListenFiles returns the sockets systemd passed to this process (socket
// activation, sd_listen_fds(3)), in order, each [os.File] named as the
// socket unit names it: $LISTEN_PID must be this process, $LISTEN_FDS is
// the count of descriptors, from 3 on, and $LISTEN_FDNAMES their names,
// colon-separated (FileDescriptorName=, by default the socket unit's
// name); without $LISTEN_FDNAMES each is named "unknown", as in
// sd_listen_fds_with_names(3). Make a listener of one with
// [net.FileListener], and close the file then.
//
// ListenFiles marks the descriptors close-on-exec and unsets $LISTEN_PID,
// $LISTEN_FDS, $LISTEN_FDNAMES (and $LISTEN_PIDFDID), so that no child
// inherits them, on every path, errors included: call it once. Without
// socket activation, or when the variables name another process, it
// returns nil and no error. Malformed variables, a count of names other
// than the count of descriptors, or a descriptor that is not open are an
// error, and then no file is returned. On systems other than Unix it
// returns nil and no error.
func ListenFiles() ([]*os.File, error) {
	if !supported {
		return nil, nil
	}
	pidVar, hasPID := os.LookupEnv("LISTEN_PID")
	pidfdVar, hasPidfd := os.LookupEnv("LISTEN_PIDFDID")
	fdsVar, hasFDs := os.LookupEnv("LISTEN_FDS")
	namesVar, hasNames := os.LookupEnv("LISTEN_FDNAMES")
	for _, v := range []string{"LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}

	if !hasPID {
		return nil, nil
	}
	pid, err := parsePID("LISTEN_PID", pidVar)
	if err != nil {
		return nil, err
	}
	if pid != os.Getpid() {
		return nil, nil
	}
	if hasPidfd {
		id, err := strconv.ParseUint(pidfdVar, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("systemd: LISTEN_PIDFDID=%q is not a number", pidfdVar)
		}
		if !pidfdMatches(id) {
			return nil, nil
		}
	}
	if !hasFDs {
		return nil, nil
	}
	n, err := strconv.Atoi(fdsVar)
	if err != nil || n <= 0 || n > math.MaxInt32-listenFdsStart {
		return nil, fmt.Errorf("systemd: LISTEN_FDS=%q is not a positive count", fdsVar)
	}
	var names []string
	if hasNames {
		names = strings.Split(namesVar, ":")
		if len(names) != n {
			return nil, fmt.Errorf("systemd: LISTEN_FDNAMES=%q has %d names for LISTEN_FDS=%d", namesVar, len(names), n)
		}
	}
	for fd := listenFdsStart; fd < listenFdsStart+n; fd++ {
		if err := checkListenFD(fd); err != nil {
			return nil, fmt.Errorf("systemd: LISTEN_FDS=%d: %w", n, err)
		}
	}
	files := make([]*os.File, n)
	for i := range files {
		name := "unknown"
		if names != nil {
			name = names[i]
		}
		files[i] = os.NewFile(uintptr(listenFdsStart+i), name)
	}
	return files, nil
}
