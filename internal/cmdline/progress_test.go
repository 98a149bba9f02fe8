package cmdline

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestProgress(t *testing.T) {
	Progress(nil, func() string { t.Fatal("a nil writer asked for a line"); return "" })()
	var w lockedBuf
	stop := Progress(&w, func() string { return "working" })
	stop()
	stop() // twice is fine
	if s := w.b.String(); !strings.HasSuffix(s, "\r\x1b[K") || strings.Count(s, "\r\x1b[K") != 1+strings.Count(s, "working") {
		t.Fatalf("output %q: want progress lines then one clear", s)
	}
	if Terminal(&w) {
		t.Fatal("a buffer is a terminal")
	}
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	if Terminal(pw) {
		t.Fatal("a pipe is a terminal")
	}
}
