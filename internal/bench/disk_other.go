//go:build !linux

package bench

import (
	"errors"
	"os"
	"time"
)

func fdatasync(f *os.File) error { return f.Sync() }

func threadCPU() (time.Duration, error) {
	return 0, errors.New("a thread's CPU time is measured on Linux only")
}
