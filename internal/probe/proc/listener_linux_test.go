package proc

import (
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
)

func TestListeners(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp", ":0"}, // IPv6 with IPv4 mapped, in /proc/net/tcp6
	} {
		t.Run(tc.addr, func(t *testing.T) {
			ln, err := net.Listen(tc.network, tc.addr)
			if err != nil {
				t.Skip(err) // no IPv6
			}
			port := ln.Addr().(*net.TCPAddr).Port
			pids, err := listeners(port)
			if err != nil || !slices.Contains(pids, os.Getpid()) {
				t.Errorf("listeners(%d) = %v, %v; want the test's pid %d", port, pids, err, os.Getpid())
			}
			// A connection is not a listener.
			nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			ac, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			defer nc.Close()
			defer ac.Close()
			if pids, err := listeners(port); err != nil || len(pids) != 0 {
				t.Errorf("listeners(%d) once closed = %v, %v; want none", port, pids, err)
			}
		})
	}
}
