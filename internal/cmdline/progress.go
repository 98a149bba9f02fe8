package cmdline

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Terminal reports whether w is a terminal (a character device), where a
// command may show progress; piped or redirected output gets none.
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Progress writes line() to w every 250 ms, each over the last (a carriage
// return), until the returned stop is called, which clears the line. A nil
// w shows nothing (stop does nothing).
func Progress(w io.Writer, line func() string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\x1b[K%s", line())
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			fmt.Fprint(w, "\r\x1b[K")
		})
	}
}
