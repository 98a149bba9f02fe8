package log

import "syscall"

// yieldThread gives the calling thread's core to any thread waiting for
// it (sched_yield(2)); the goroutine keeps running afterwards. Through
// Syscall, not RawSyscall, so that the runtime may hand the thread's P
// to another goroutine should the yield last.
func yieldThread() { _, _, _ = syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
