//go:build unix

package systemd_test

import (
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/drain-go/drain/systemd"
)

// A service tells the manager that it is ready. Here a socket of the
// example's own plays the manager.
func ExampleNotifier() {
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	manager, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		log.Fatal(err)
	}
	defer manager.Close()
	os.Setenv("NOTIFY_SOCKET", manager.LocalAddr().String()) // as systemd does for Type=notify
	defer os.Unsetenv("NOTIFY_SOCKET")

	n, err := systemd.NewNotifier()
	if err != nil {
		log.Fatal(err)
	}
	if err := n.Notify("READY=1", "STATUS=serving on :8080"); err != nil {
		log.Fatal(err)
	}

	buf := make([]byte, 4096)
	size, err := manager.Read(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf[:size])
	// Output:
	// READY=1
	// STATUS=serving on :8080
}

// Without $NOTIFY_SOCKET the Notifier is nil, and notifying does nothing.
func ExampleNewNotifier() {
	os.Unsetenv("NOTIFY_SOCKET")
	n, err := systemd.NewNotifier()
	fmt.Println(n == nil, err, n.Notify("READY=1"))
	// Output: true <nil> <nil>
}

// A service takes its listener from systemd by name, and listens itself
// when it was not socket-activated.
func ExampleListenFiles() {
	files, err := systemd.ListenFiles()
	if err != nil {
		log.Fatal(err)
	}
	var ln net.Listener
	for _, f := range files {
		if f.Name() == "web" && ln == nil {
			ln, err = net.FileListener(f)
			if err != nil {
				log.Fatal(err)
			}
		}
		f.Close()
	}
	if ln == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
	}
	defer ln.Close()
	fmt.Println(ln.Addr().Network())
	// Output: tcp
}
