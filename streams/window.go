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
	// Sliding windows: the windows of a fixed time difference that
	// start or end at a key's records (Kafka Streams' SlidingWindows,
	// KIP-450).
	Sliding
)

// DefaultGrace is Kafka Streams' grace period for windows declared without
// one (the deprecated TimeWindows.of and SessionWindows.with): 24 hours
// less the window size (or the session gap), and 0 when that is negative.
const DefaultGrace = 24 * time.Hour

// Windows describes a windowed table's windows. Build it with
// TumblingWindows, HoppingWindows, SessionWindows or SlidingWindows, then
// Grace and Expires.
type Windows struct {
	kind     WindowKind
	size     time.Duration // tumbling, hopping; sliding: the time difference
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

// SlidingWindows are Kafka Streams' sliding windows
// (SlidingWindows.ofTimeDifferenceAndGrace, KIP-450): windows [s,
// s+timeDifference], both ends inclusive, that exist only where they start
// or end at a record of the key: a record at t has its left window
// [t-timeDifference, t] and, when a later record of the key falls in it,
// its right window [t+1, t+1+timeDifference]. So every distinct set of a
// key's records that fit within timeDifference has one window, and no
// window is empty.
// As a Window, [s, s+timeDifference] is {Start: s, End:
// s+timeDifference+1 ms} (End exclusive, as every Window).
//
// New windows start from the value of an existing window of the key
// (Kafka Streams builds them from the initializer and the aggregator,
// never a merger), so Update's function sees, for a new window, the value
// of the records already in it: a value that is an aggregate of its
// records (a count, a sum, a list) works as in Kafka Streams.
//
// Without Grace the grace period is 0 (Kafka Streams'
// ofTimeDifferenceWithNoGrace). A window closes once stream time reaches
// its End plus grace, as the other windows; a record is dropped as late
// when even its right window would be closed (t+1+timeDifference+grace
// <= stream time), and otherwise left out of its windows that are closed.
// Reads stop returning a window after Expires, as the other kinds, but its
// state stays at least until stream time passes its End plus grace plus
// twice timeDifference: a record that is not late may still need it.
//
// Where this differs from Kafka Streams: Kafka Streams keeps windows from
// starting before the epoch by putting the records of the first
// timeDifference after it into one window [0, timeDifference]; here windows
// may start before the epoch (at negative times), so those records get
// their own windows like any other.
func SlidingWindows(timeDifference time.Duration) Windows {
	return Windows{kind: Sliding, size: timeDifference}
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
	if w.kind == Sliding {
		return 0
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
	case Sliding:
		if w.size < 0 || w.size%ms != 0 {
			return fmt.Errorf("sliding windows' time difference %v: want a non-negative whole number of milliseconds", w.size)
		}
	default:
		return fmt.Errorf("unknown window kind %d (use TumblingWindows, HoppingWindows, SessionWindows or SlidingWindows)", w.kind)
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

// keep is what is added to a window's end to get the time its state is
// deleted: its retention, and for sliding windows at least what a record
// that is not late can still need. A record at t reads the windows that
// start from t-2*timeDifference (to find the aggregate before it), and
// is not late while t+1+timeDifference+grace > stream time: so a window
// stays while stream time < its End + grace + 2*timeDifference (reads
// still hide it from its retention on).
func (w Windows) keep() int64 {
	r := w.retention()
	if w.kind == Sliding {
		r = max(r, w.GracePeriod().Milliseconds()+2*w.size.Milliseconds())
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
