//go:build !linux

package proc

import (
	"errors"
	"fmt"
)

// BecomeSubreaper would make the calling process a child subreaper, which
// only Linux has: it returns an error wrapping [errors.ErrUnsupported].
func BecomeSubreaper() error {
	return fmt.Errorf("probe: become a child subreaper: %w", errors.ErrUnsupported)
}
