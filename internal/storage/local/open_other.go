//go:build !linux

package local

import (
	"errors"
	"io"
	"os"
)

// openBeneath reports [errors.ErrUnsupported]: outside Linux, files are
// opened through the [os.Root].
func openBeneath(*os.File, string) (*os.File, error) { return nil, errors.ErrUnsupported }

// openRead reports [errors.ErrUnsupported]: outside Linux, [Store.Get]
// opens files through the [os.Root].
func openRead(*os.File, string) (io.ReadCloser, error) { return nil, errors.ErrUnsupported }
