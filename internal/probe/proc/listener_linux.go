package proc

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// listeners returns the processes that hold a TCP socket listening on
// port, on any address, IPv4 or IPv6, in ascending order. The kernel lists
// the sockets of the probe's network namespace in /proc/net/tcp and
// /proc/net/tcp6, each with its state (0A is LISTEN) and inode; a process
// holds one if a link in /proc/[pid]/fd reads "socket:[inode]". The
// descriptors of another user's processes cannot be read (unless the probe
// runs as root), and such processes are missed.
func listeners(port int) ([]int, error) {
	inodes := map[string]bool{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listening(name, port, inodes); err != nil && !os.IsNotExist(err) {
			return nil, err // tcp6 is absent without IPv6
		}
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue // not a process
		}
		if holds(pid, inodes) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// listening adds to inodes the sockets listed in name (/proc/net/tcp or
// tcp6) that listen on port. A line reads
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//	0: 0100007F:A0F1 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 123456 ...
//
// with the port in hexadecimal after the address.
func listening(name string, port int, inodes map[string]bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], want) {
			continue
		}
		if fields[9] != "0" { // 0: a socket being torn down
			inodes["socket:["+fields[9]+"]"] = true
		}
	}
	return sc.Err()
}

// holds reports whether process pid has a descriptor on one of inodes.
func holds(pid int, inodes map[string]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false // gone, a zombie, or another user's
	}
	for _, fd := range fds {
		if link, err := os.Readlink(dir + fd.Name()); err == nil && inodes[link] {
			return true
		}
	}
	return false
}
