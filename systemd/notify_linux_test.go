package systemd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newNotifier(t *testing.T) *Notifier {
	t.Helper()
	n, err := NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	if n == nil {
		t.Fatal("NewNotifier returned nil with NOTIFY_SOCKET set")
	}
	return n
}

func TestNotifyInOrder(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		name := "path"
		if abstract {
			name = "abstract"
		}
		t.Run(name, func(t *testing.T) {
			r := listenNotify(t, abstract)
			n := newNotifier(t)
			var sent [][]string
			sent = append(sent,
				[]string{"READY=1", "STATUS=serving on :8080"},
				[]string{"RELOADING=1", Monotonic()},
				[]string{"MAINPID=1234"},
				[]string{"STATUS=" + strings.Repeat("x", maxMessage-len("STATUS="))},
				[]string{"STATUS=draining 3 requests: ünïcode", "EXTEND_TIMEOUT_USEC=5000000"},
				[]string{"X_CUSTOM=a=b=c"},
				[]string{"STATUS="},
			)
			for i := range 100 {
				sent = append(sent, []string{"WATCHDOG=1", fmt.Sprintf("STATUS=ping %d", i)})
			}
			sent = append(sent, []string{"STOPPING=1"})
			// The receiver reads while the notifications are sent, as the
			// manager does: its queue holds a few only.
			sendErr := make(chan error, 1)
			go func() {
				for _, s := range sent {
					if err := n.Notify(s...); err != nil {
						sendErr <- err
						return
					}
				}
				sendErr <- nil
			}()
			for i, s := range sent {
				got := r.recv()
				if want := strings.Join(s, "\n"); got.text != want {
					t.Fatalf("notification %d: got %q, want %q", i, trim(got.text), trim(want))
				}
				if got.pid != int32(os.Getpid()) {
					t.Fatalf("notification %d from pid %d, want %d", i, got.pid, os.Getpid())
				}
				if len(got.files) != 0 {
					t.Fatalf("notification %d came with %d files", i, len(got.files))
				}
			}
			if err := <-sendErr; err != nil {
				t.Fatal(err)
			}
			r.expectNothing()
		})
	}
}

// TestNotifyQueueFull: a manager that does not read makes Notify fail
// after a while rather than hang.
func TestNotifyQueueFull(t *testing.T) {
	r := listenNotify(t, false)
	n := newNotifier(t)
	var err error
	sent := 0
	start := time.Now()
	for ; sent < 100_000; sent++ {
		if err = n.Notify("WATCHDOG=1"); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("after %d notifications: %v, want EAGAIN", sent, err)
	}
	if d := time.Since(start); d < maxSendWait {
		t.Errorf("Notify gave up after %v, before %v", d, maxSendWait)
	}
	t.Logf("the queue took %d notifications; then: %v", sent, err)
	// What was queued is intact, in order.
	for range sent {
		if got := r.recv(); got.text != "WATCHDOG=1" {
			t.Fatalf("got %q", got.text)
		}
	}
	if err := n.Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := r.recv(); got.text != "READY=1" {
		t.Fatalf("got %q", got.text)
	}
}

func trim(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestNotifyRejects(t *testing.T) {
	r := listenNotify(t, false)
	n := newNotifier(t)
	for _, tt := range []struct {
		name  string
		state []string
	}{
		{"nothing", nil},
		{"no =", []string{"READY"}},
		{"empty", []string{""}},
		{"no name", []string{"=1"}},
		{"newline", []string{"STATUS=a\nREADY=1"}},
		{"NUL", []string{"STATUS=a\x00b"}},
		{"one bad of several", []string{"READY=1", "STATUS"}},
		{"too long", []string{"STATUS=" + strings.Repeat("x", maxMessage)}},
		{"too long together", []string{"A=" + strings.Repeat("x", 2048), "B=" + strings.Repeat("x", 2048)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := n.Notify(tt.state...); err == nil {
				t.Errorf("Notify(%q) = nil, want an error", tt.state)
			}
			r.expectNothing()
		})
	}
	t.Run("files", func(t *testing.T) {
		if err := n.NotifyFiles([]*os.File{nil}, "FDSTORE=1"); err == nil {
			t.Error("a nil file: no error")
		}
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		many := make([]*os.File, maxFiles+1)
		for i := range many {
			many[i] = f
		}
		if err := n.NotifyFiles(many, "FDSTORE=1"); err == nil {
			t.Errorf("%d files: no error", len(many))
		}
		if err := n.NotifyFiles([]*os.File{f}, "FDSTORE"); err == nil {
			t.Error("a file with a bad assignment: no error")
		}
		r.expectNothing()
		// The limit itself is fine.
		if err := n.NotifyFiles(many[:maxFiles], "FDSTORE=1"); err != nil {
			t.Fatal(err)
		}
		if got := r.recv(); len(got.files) != maxFiles {
			t.Errorf("received %d files, want %d", len(got.files), maxFiles)
		}
	})
}

func TestNilNotifier(t *testing.T) {
	var n *Notifier
	if err := n.Notify("READY=1"); err != nil {
		t.Error(err)
	}
	if err := n.Notify("not an assignment"); err != nil {
		t.Error(err)
	}
	if err := n.NotifyFiles([]*os.File{os.Stdin}, "FDSTORE=1"); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Barrier(ctx); err != nil {
		t.Error(err)
	}
}

func TestNewNotifier(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		os.Unsetenv("NOTIFY_SOCKET")
		if n, err := NewNotifier(); n != nil || err != nil {
			t.Errorf("NewNotifier() = %v, %v; want nil, nil", n, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if n, err := NewNotifier(); n != nil || err != nil {
			t.Errorf("NewNotifier() = %v, %v; want nil, nil", n, err)
		}
	})
	for _, addr := range []string{
		"relative/notify",
		"notify",
		"@",
		"vsock:2:1234",
		"vsock-dgram:2:1234",
		"/run/" + strings.Repeat("x", 103),
		"@" + strings.Repeat("x", 108),
	} {
		t.Run(trim(addr), func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", addr)
			n, err := NewNotifier()
			if err == nil || n != nil {
				t.Fatalf("NewNotifier() = %v, %v; want an error", n, err)
			}
			if strings.HasPrefix(addr, "vsock") && !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("%v does not wrap errors.ErrUnsupported", err)
			}
		})
	}
	t.Run("longest", func(t *testing.T) {
		// The longest names the kernel takes are accepted.
		for _, addr := range []string{"/" + strings.Repeat("x", 106), "@" + strings.Repeat("x", 107)} {
			t.Setenv("NOTIFY_SOCKET", addr)
			if _, err := NewNotifier(); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
		err := newNotifier(t).Notify("READY=1")
		if !errors.Is(err, syscall.ENOENT) {
			t.Errorf("Notify to a missing socket: %v, want ENOENT", err)
		}
	})
}

func TestNotifyFiles(t *testing.T) {
	r := listenNotify(t, true)
	n := newNotifier(t)

	// A pipe and a regular file, in one notification: each received
	// descriptor is the same open file as the one sent.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	reg, err := os.Create(filepath.Join(t.TempDir(), "stored"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := n.NotifyFiles([]*os.File{pw, reg}, "FDSTORE=1", "FDNAME=web"); err != nil {
		t.Fatal(err)
	}
	got := r.recv()
	if got.text != "FDSTORE=1\nFDNAME=web" {
		t.Errorf("got %q", got.text)
	}
	if len(got.files) != 2 {
		t.Fatalf("received %d files, want 2", len(got.files))
	}
	if _, err := got.files[0].Write([]byte("through the store\n")); err != nil {
		t.Fatal(err)
	}
	pw.Close() // the received duplicate still holds the pipe open
	pr.SetReadDeadline(time.Now().Add(30 * time.Second))
	line := make([]byte, len("through the store\n"))
	if _, err := io.ReadFull(pr, line); err != nil || string(line) != "through the store\n" {
		t.Fatalf("read %q, %v through the received pipe", line, err)
	}
	if _, err := got.files[1].WriteString("stored data"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(reg.Name()); err != nil || string(data) != "stored data" {
		t.Fatalf("file has %q, %v; want what was written through the received descriptor", data, err)
	}
	var st1, st2 syscall.Stat_t
	if err := syscall.Fstat(int(got.files[1].Fd()), &st1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(reg.Name(), &st2); err != nil {
		t.Fatal(err)
	}
	if st1.Dev != st2.Dev || st1.Ino != st2.Ino {
		t.Error("the received descriptor is another file")
	}

	// The sender's file is left as it was: open, and in non-blocking
	// mode, so that deadlines still work.
	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw2.Close()
	defer pr2.Close()
	if err := n.NotifyFiles([]*os.File{pr2}, "FDSTORE=1"); err != nil {
		t.Fatal(err)
	}
	r.recv()
	pr2.SetReadDeadline(time.Now().Add(time.Millisecond))
	if _, err := pr2.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after NotifyFiles: %v, want a deadline error", err)
	}
	r.expectNothing()
}

func TestBarrier(t *testing.T) {
	r := listenNotify(t, false)
	n := newNotifier(t)
	if err := n.Notify("STATUS=before the barrier"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Barrier(context.Background()) }()

	if got := r.recv(); got.text != "STATUS=before the barrier" {
		t.Fatalf("got %q first", got.text)
	}
	b := r.recv()
	if b.text != "BARRIER=1" || len(b.files) != 1 {
		t.Fatalf("got %q with %d files, want BARRIER=1 with one", b.text, len(b.files))
	}
	select {
	case err := <-done:
		t.Fatalf("Barrier returned %v before the manager closed the pipe", err)
	default:
	}
	b.files[0].Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Barrier did not return once the pipe was closed")
	}
}

func TestBarrierContext(t *testing.T) {
	for _, tt := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := listenNotify(t, false)
			n := newNotifier(t)
			ctx, cancel := tt.ctx()
			defer cancel()
			// The receiver keeps the write end open, like a manager that
			// never gets to the barrier.
			err := n.Barrier(ctx)
			if err != tt.want {
				t.Fatalf("Barrier = %v, want %v", err, tt.want)
			}
			b := r.recv()
			if b.text != "BARRIER=1" || len(b.files) != 1 {
				t.Fatalf("got %q with %d files", b.text, len(b.files))
			}
			// Barrier closed its read end: writing to the pipe fails.
			if _, err := b.files[0].Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
				t.Errorf("write to the barrier's pipe: %v, want EPIPE (read end closed)", err)
			}
		})
	}
	t.Run("already done", func(t *testing.T) {
		r := listenNotify(t, false)
		n := newNotifier(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := n.Barrier(ctx); err != context.Canceled {
			t.Fatalf("Barrier = %v, want context.Canceled", err)
		}
		r.expectNothing()
	})
}

// TestNotifyLeavesNoDescriptor checks that no socket or pipe stays open in
// this process after Notify, NotifyFiles and Barrier.
func TestNotifyLeavesNoDescriptor(t *testing.T) {
	r := listenNotify(t, false)
	n := newNotifier(t)
	before := openFDs(t)
	for range 50 {
		if err := n.Notify("WATCHDOG=1"); err != nil {
			t.Fatal(err)
		}
		r.recv()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := n.Barrier(ctx); err != context.DeadlineExceeded {
		t.Fatal(err)
	}
	r.recv().files[0].Close()
	if after := openFDs(t); after != before {
		t.Errorf("open descriptors: %s before, %s after", before, after)
	}
}

// openFDs lists this process's open descriptors.
func openFDs(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
