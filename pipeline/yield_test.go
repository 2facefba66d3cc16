package pipeline

import "runtime"

// runtimeYield lets other goroutines run while a test waits on a condition
// that has no channel to wait on.
func runtimeYield() { runtime.Gosched() }
