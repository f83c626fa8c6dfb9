package drain

import (
	"errors"
	"fmt"
	"runtime/debug"
)

var (
	// ErrForced reports that a shutdown did not finish on its own: its
	// Timeout expired or a second signal arrived, so the connections still
	// open were closed by force and the handlers still running had their
	// contexts cancelled. The process should exit with a non-zero code;
	// [ExitCode] returns 1.
	ErrForced = errors.New("drain: shutdown forced")

	// ErrInvalid reports a configuration that [Group.Run] refuses to start
	// with. The error that wraps it names every problem found.
	ErrInvalid = errors.New("drain: invalid configuration")
)

// A panicError is a panic recovered from user code (a cleanup function, a
// Server of another package), turned into an error so that the rest of the
// shutdown still runs. Its message carries the value and the stack.
type panicError struct {
	value any
	stack []byte // as runtime/debug.Stack formats it
}

func (e *panicError) Error() string {
	return fmt.Sprintf("panic: %v\n\n%s", e.value, e.stack)
}

func newPanicError(v any) *panicError {
	return &panicError{value: v, stack: debug.Stack()}
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through the panic.
func (e *panicError) Unwrap() error {
	err, _ := e.value.(error)
	return err
}

// ExitCode returns the exit code a process should end with after
// [Group.Run] returned err: 0 for nil (every server drained and every cleanup
// function succeeded) and 1 for anything else, forced shutdowns included, as
// in the classic Node.js recipe this package grew from.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return 1
}
