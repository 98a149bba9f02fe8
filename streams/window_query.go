package streams

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"time"
)

// Interactive queries of windowed tables (see query.go).

// query answers q from a windowed table partition's store (its committed
// state): the window starting at q.window, or all of q.kb's windows, that
// have not expired by the store's stream time. Called with tc.mu held.
func (wc *windowCore) query(st store, q queryKey) (queryAnswer, error) {
	stream := int64(minStreamTime)
	v, ok, err := st.get(streamTimeKey)
	if err != nil {
		return queryAnswer{}, err
	}
	if ok {
		if len(v) != 8 {
			return queryAnswer{}, fmt.Errorf("%w: table %s: stream time of %d bytes", ErrStoreCorrupt, wc.tc.name, len(v))
		}
		stream = int64(binary.BigEndian.Uint64(v))
	}
	var out []queryWindow
	add := func(start int64, v []byte) error {
		m, vb, ok := parseWindowValue(v)
		if !ok {
			return fmt.Errorf("%w: table %s: malformed window value", ErrStoreCorrupt, wc.tc.name)
		}
		if stream < m.end+wc.retention {
			out = append(out, queryWindow{Start: start, End: m.end, Value: vb})
		}
		return nil
	}
	if q.hasWindow {
		v, ok, err := st.get(windowKey(q.kb, q.window))
		if err != nil {
			return queryAnswer{}, err
		}
		if ok {
			if err := add(q.window, v); err != nil {
				return queryAnswer{}, err
			}
		}
		if len(out) == 0 {
			return queryAnswer{status: http.StatusNotFound, msg: "window not found"}, nil
		}
		return queryAnswer{status: http.StatusOK, windows: out}, nil
	}
	// The key's windows: its window keys without their 8-byte start.
	prefix := windowKey(q.kb, 0)
	prefix = prefix[:len(prefix)-8]
	for k, v := range st.scan(prefix) {
		_, start, ok := parseWindowKey(k)
		if !ok {
			return queryAnswer{}, fmt.Errorf("%w: table %s: malformed window key", ErrStoreCorrupt, wc.tc.name)
		}
		if err := add(start, v); err != nil {
			return queryAnswer{}, err
		}
	}
	if len(out) == 0 {
		return queryAnswer{status: http.StatusNotFound, msg: "key has no windows"}, nil
	}
	return queryAnswer{status: http.StatusOK, windows: out}, nil
}

// WindowValue is one window of a key and the key's value in it.
type WindowValue[V any] struct {
	Window Window
	Value  V
}

// Query returns key's value in its window that starts at start, wherever
// the key lives: from this worker's store when it owns the key's
// partition (its committed state), else from the owning worker over HTTP
// (the app must run with QueryServer). found is false when there is no
// such window (never written, or expired); ErrQueryUnavailable means the
// partition is being restored or moving: retry.
func (t *WindowedTable[K, V]) Query(ctx context.Context, key K, start time.Time) (value V, found bool, err error) {
	ws, err := t.query(ctx, key, start.UnixMilli(), true)
	if err != nil || len(ws) == 0 {
		return value, false, err
	}
	return ws[0].Value, true, nil
}

// QueryWindows returns all key's windows that have not expired, oldest
// first, wherever the key lives (as Query); none when the key has no
// windows.
func (t *WindowedTable[K, V]) QueryWindows(ctx context.Context, key K) ([]WindowValue[V], error) {
	return t.query(ctx, key, 0, false)
}

func (t *WindowedTable[K, V]) query(ctx context.Context, key K, start int64, one bool) ([]WindowValue[V], error) {
	kb, err := t.key.Encode(key)
	if err != nil {
		return nil, fmt.Errorf("streams: table %s: key: %w", t.Name(), err)
	}
	a := t.app
	a.mu.Lock()
	qs := a.qsrv
	a.mu.Unlock()
	ans := a.queryTable(ctx, qs, t.Name(), queryKey{kb: kb, window: start, hasWindow: one}, false)
	switch ans.status {
	case http.StatusOK:
		out := make([]WindowValue[V], 0, len(ans.windows))
		for _, w := range ans.windows {
			v, err := t.value.Decode(w.Value)
			if err != nil {
				return nil, fmt.Errorf("streams: table %s: stored value: %w", t.Name(), err)
			}
			out = append(out, WindowValue[V]{Window: msWindow(w.Start, w.End), Value: v})
		}
		return out, nil
	case http.StatusNotFound:
		return nil, nil
	case http.StatusServiceUnavailable:
		return nil, fmt.Errorf("%w: %s", ErrQueryUnavailable, ans.msg)
	}
	return nil, fmt.Errorf("streams: table %s: query: %s", t.Name(), ans.msg)
}
