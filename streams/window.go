package streams

import (
	"fmt"
	"time"
)

// WindowKind is the shape of a table's windows.
type WindowKind int

const (
	// Tumbling windows: fixed size, aligned to the Unix epoch, not
	// overlapping (Kafka Streams' TimeWindows with advance = size).
	Tumbling WindowKind = iota + 1
	// Hopping windows: fixed size, starting every advance from the epoch,
	// overlapping when advance < size (Kafka Streams' TimeWindows.advanceBy).
	Hopping
	// Session windows: a key's records no more than gap apart, merged
	// (Kafka Streams' SessionWindows).
	Session
)

// DefaultGrace is Kafka Streams' grace period for windows declared without
// one (the deprecated TimeWindows.of and SessionWindows.with): 24 hours
// less the window size (or the session gap), and 0 when that is negative.
const DefaultGrace = 24 * time.Hour

// Windows describes a windowed table's windows. Build it with
// TumblingWindows, HoppingWindows or SessionWindows, then Grace and
// Expires.
type Windows struct {
	kind     WindowKind
	size     time.Duration // tumbling, hopping
	advance  time.Duration // hopping (size for tumbling)
	gap      time.Duration // session
	grace    time.Duration
	graceSet bool
	expires  time.Duration // 0: the grace period
}

// TumblingWindows are windows of size: [k*size, (k+1)*size).
func TumblingWindows(size time.Duration) Windows {
	return Windows{kind: Tumbling, size: size, advance: size}
}

// HoppingWindows are windows of size starting every advance:
// [k*advance, k*advance+size). A record belongs to size/advance of them.
func HoppingWindows(size, advance time.Duration) Windows {
	return Windows{kind: Hopping, size: size, advance: advance}
}

// SessionWindows group a key's records into sessions: a record joins (and
// merges) every session of its key whose records are at most gap away
// (both ends inclusive, as Kafka Streams'). A session's Window starts at
// its first record's time and ends 1 ms after its last record's time.
// Tables of session windows need a Merge option to combine the values of
// sessions a record bridges.
func SessionWindows(gap time.Duration) Windows {
	return Windows{kind: Session, gap: gap}
}

// Grace sets the grace period: a window accepts records while stream time
// is before its end plus grace (see WindowedTable).
func (w Windows) Grace(d time.Duration) Windows {
	w.grace, w.graceSet = d, true
	return w
}

// Expires sets how long after its end (plus, for sessions, the gap) a
// window's state is kept: Faust's
// expires, Kafka Streams' window store retention. Default and minimum:
// the grace period, so a window is deleted when it closes.
func (w Windows) Expires(d time.Duration) Windows {
	w.expires = d
	return w
}

// Kind returns the windows' kind.
func (w Windows) Kind() WindowKind { return w.kind }

// GracePeriod returns the grace period in effect (Kafka Streams' default
// when Grace was not called).
func (w Windows) GracePeriod() time.Duration {
	if w.graceSet {
		return w.grace
	}
	span := w.size
	if w.kind == Session {
		span = w.gap
	}
	return max(DefaultGrace-span, 0)
}

func (w Windows) validate() error {
	ms := time.Millisecond
	switch w.kind {
	case Tumbling, Hopping:
		if w.size < ms || w.size%ms != 0 {
			return fmt.Errorf("window size %v: want a positive whole number of milliseconds", w.size)
		}
		if w.advance < ms || w.advance%ms != 0 || w.advance > w.size {
			return fmt.Errorf("window advance %v: want whole milliseconds in (0, size %v]", w.advance, w.size)
		}
	case Session:
		if w.gap < 0 || w.gap%ms != 0 {
			return fmt.Errorf("session gap %v: want a non-negative whole number of milliseconds", w.gap)
		}
	default:
		return fmt.Errorf("unknown window kind %d (use TumblingWindows, HoppingWindows or SessionWindows)", w.kind)
	}
	if w.graceSet && (w.grace < 0 || w.grace%ms != 0) {
		return fmt.Errorf("grace %v: want a non-negative whole number of milliseconds", w.grace)
	}
	if w.expires != 0 && (w.expires < w.GracePeriod() || w.expires%ms != 0) {
		return fmt.Errorf("expires %v: want whole milliseconds, at least the grace period %v", w.expires, w.GracePeriod())
	}
	return nil
}

// Window is one window: records with Start <= time < End. A session's End
// is its last record's time plus 1 ms.
type Window struct {
	Start, End time.Time
}

func (w Window) String() string {
	return fmt.Sprintf("[%d, %d)", w.Start.UnixMilli(), w.End.UnixMilli())
}

func msWindow(start, end int64) Window {
	return Window{Start: time.UnixMilli(start).UTC(), End: time.UnixMilli(end).UTC()}
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// timeWindowsFor returns the starts of the tumbling or hopping windows
// that contain ts (all in ms), oldest first.
func (w Windows) timeWindowsFor(ts int64) []int64 {
	size, adv := w.size.Milliseconds(), w.advance.Milliseconds()
	first := floorDiv(ts-size, adv) + 1
	last := floorDiv(ts, adv)
	out := make([]int64, 0, last-first+1)
	for k := first; k <= last; k++ {
		out = append(out, k*adv)
	}
	return out
}

// closeSpan is what is added to a window's end to get its close time,
// and retention to get its expiry time (ms).
func (w Windows) closeSpan() int64 {
	g := w.GracePeriod().Milliseconds()
	if w.kind == Session {
		g += w.gap.Milliseconds()
	}
	return g
}

func (w Windows) retention() int64 {
	r := max(w.expires, w.GracePeriod()).Milliseconds()
	if w.kind == Session {
		r += w.gap.Milliseconds()
	}
	return r
}

// EventTime makes the events agents read from t carry the time f takes
// from the record (its key, its value, its timestamp) as their Timestamp,
// instead of the record's timestamp: Kafka Streams' TimestampExtractor,
// Faust's relative_to_field. Windowed tables use Event.Timestamp as event
// time. It returns t; call it before the app runs.
func EventTime[K, V any](t *Topic[K, V], f func(key K, value V, recordTime time.Time) time.Time) *Topic[K, V] {
	t.eventTime = f
	return t
}
