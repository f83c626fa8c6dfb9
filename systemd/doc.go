// Package systemd speaks the protocols by which systemd runs a service,
// with the standard library only: readiness and status notifications
// (sd_notify(3)), file descriptors kept in the manager's store, the
// notification barrier, the watchdog interval, and socket activation
// (sd_listen_fds(3)).
//
// A service under a unit with Type=notify-reload:
//
//	func main() {
//		n, err := systemd.NewNotifier() // nil without $NOTIFY_SOCKET: every call does nothing
//		if err != nil {
//			log.Fatal(err)
//		}
//		files, err := systemd.ListenFiles() // the unit's sockets, if it has a .socket unit
//		if err != nil {
//			log.Fatal(err)
//		}
//		var ln net.Listener
//		for _, f := range files {
//			if f.Name() == "web" { // FileDescriptorName=web in the .socket unit
//				ln, err = net.FileListener(f)
//			}
//			f.Close()
//		}
//		// ... serve on ln, then:
//		n.Notify("READY=1", "STATUS=serving")
//
//		if every, _ := systemd.WatchdogInterval(); every > 0 {
//			// n.Notify("WATCHDOG=1") every every/2
//		}
//		// On reload:
//		n.Notify("RELOADING=1", systemd.Monotonic())
//		// ... then READY=1 again. On shutdown:
//		n.Notify("STOPPING=1", "STATUS=draining 3 requests")
//		n.Notify("EXTEND_TIMEOUT_USEC=5000000") // if the drain needs more than TimeoutStopSec=
//	}
//
// with units such as:
//
//	# web.socket
//	[Socket]
//	ListenStream=8080
//	FileDescriptorName=web
//
//	# web.service
//	[Service]
//	Type=notify-reload
//	ExecStart=/usr/local/bin/web
//	WatchdogSec=30s
//	TimeoutStopSec=15s
//	FileDescriptorStoreMax=4
//
// # The notify socket
//
// $NOTIFY_SOCKET is an absolute path or, on Linux, an abstract socket
// ("@name"); AF_VSOCK addresses, which systemd gives to a service in a
// virtual machine, are not supported. A notification is one datagram of
// newline-separated assignments, 4096 bytes at most (the manager drops a
// longer one), carrying the sender's credentials, which the manager uses
// to accept it only from the unit's main process unless NotifyAccess= says
// otherwise: a process that the service starts, such as a new binary
// taking over in an upgrade, needs NotifyAccess=all, and the old process
// names it with MAINPID=.
//
// # The file descriptor store
//
// [Notifier.NotifyFiles] with "FDSTORE=1" and "FDNAME=name" hands
// descriptors to the manager (FileDescriptorStoreMax= must allow them),
// which passes them back to the next start of the service, named, as
// [ListenFiles] returns them: listening sockets kept across a plain restart
// queue the connections made meanwhile instead of refusing them.
//
// # Other systems
//
// The package builds everywhere. Outside Unix, [NewNotifier] returns nil
// and [ListenFiles] returns nothing; outside Linux, [Monotonic] reads 0.
// The package keeps no global state and starts no goroutine that outlives
// a call.
package systemd
