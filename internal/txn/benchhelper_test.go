package txn

import "time"

// newBenchCoordinator drives a coordinator whose writes are always applied.
func newBenchCoordinator(next func() (int64, error)) *tc {
	return newT(testConfig{Config: Config{MaxTimeout: time.Hour}, NextProducerID: next,
		Persist: func(string, []byte, []byte) error { return nil }})
}
