package proc

import (
	"io"
	"sync"
)

// tailSize is how much of a server's output a tail keeps.
const tailSize = 4 << 10

// A tail passes what is written to it on to w, if any, and keeps the last
// tailSize bytes for error messages. The server's stdout and stderr both
// write to it, from the goroutines of os/exec.
type tail struct {
	w io.Writer

	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil {
		// A failing destination must not block the server on a full pipe:
		// keep reading its output regardless.
		if _, err := t.w.Write(p); err != nil {
			t.w = nil
		}
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns the output kept.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
