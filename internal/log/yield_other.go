//go:build !linux

package log

import "runtime"

// yieldThread lets other goroutines run; without sched_yield(2) the
// operating system's threads are left to its scheduler.
func yieldThread() { runtime.Gosched() }
