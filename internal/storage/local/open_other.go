//go:build !linux

package local

import (
	"errors"
	"os"
)

// openBeneath reports [errors.ErrUnsupported]: outside Linux, files are
// opened through the [os.Root].
func openBeneath(*os.File, string) (*os.File, error) { return nil, errors.ErrUnsupported }
