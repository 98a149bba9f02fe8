package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

const consumeUsage = `Usage: sluice consume TOPIC [flags]

Prints TOPIC's records on stdout, by default only new ones (--offset end),
following the topic until interrupted (Ctrl-C), -n records were printed,
or, with -e, the end is reached.

Where to start (--offset), in every partition:
  beginning    the oldest record still kept
  end          the next record to be written (the default)
  N            offset N (clamped to the partition's range)
  -N           N records before the end (clamped at the beginning)
  @UNIX_MS     the first record with a timestamp at or after UNIX_MS

With --group G the consumer joins group G: partitions are shared with the
group's other members, and the offsets of printed records are committed.
--offset then applies only to partitions without a committed offset, and
--partition is not allowed.

Output (--format): json prints one object per line,
  {"topic":..,"partition":..,"offset":..,"timestamp":MS,"key":..,"value":..,"headers":{..}}
with key and value as strings (null when null; bytes that are not UTF-8
show as U+FFFD) and headers as an object. Anything else is a format
string, kcat style: %t topic, %p partition, %o offset, %k key, %v (or %s)
value, %h headers as k=v,k=v, %T timestamp (Unix ms), %K and %S key and
value length (-1 for null), %% a percent sign, and the escapes \n \t \r
\0 \\. The default is '%v\n'.

With --decode value (key, or key,value), values (keys) in Confluent's
schema registry wire format are decoded with the schema their id names,
fetched from the registry (--registry, as for 'sluice schema'), and
printed as JSON text: Avro in Avro's JSON encoding with union values
plain ({"f": 5}, not {"f": {"int": 5}}), Protobuf as protojson with the
.proto field names, JSON Schema as the (validated) JSON. In --format json
they are embedded as JSON, with "valueSchemaId" ("keySchemaId"). A record
that does not decode stops consume with its partition and offset.
--value-schema SUBJECT (--key-schema SUBJECT) decodes the same way and
also stops at a record whose schema id is not a version of SUBJECT.

Examples:
  sluice consume orders
  sluice consume orders --offset beginning -e
  sluice consume orders --offset -10 -n 10 --format '%p/%o %k=%v\n'
  sluice consume orders --offset @1700000000000 --format json | jq .value
  sluice consume orders --group audit --offset beginning
  sluice consume orders --decode value --offset beginning -e

Flags:
`

// offsetKind is where consume starts and where group seek moves to.
type offsetKind int

const (
	offsetEnd offsetKind = iota
	offsetBeginning
	offsetAbsolute // n
	offsetFromEnd  // n before the end
	offsetTime     // n = Unix milliseconds
)

type offsetSpec struct {
	kind offsetKind
	n    int64
}

func parseOffsetSpec(s string) (offsetSpec, error) {
	switch s {
	case "beginning", "earliest", "oldest":
		return offsetSpec{kind: offsetBeginning}, nil
	case "end", "latest", "newest":
		return offsetSpec{kind: offsetEnd}, nil
	}
	bad := fmt.Errorf("%q: want beginning, end, N, -N or @UNIX_MS", s)
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || n < 0 {
			return offsetSpec{}, bad
		}
		return offsetSpec{kind: offsetTime, n: n}, nil
	}
	if back, ok := strings.CutPrefix(s, "-"); ok {
		n, err := strconv.ParseInt(back, 10, 64)
		if err != nil || n < 0 {
			return offsetSpec{}, bad
		}
		return offsetSpec{kind: offsetFromEnd, n: n}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return offsetSpec{}, bad
	}
	return offsetSpec{kind: offsetAbsolute, n: n}, nil
}

// kgoOffset is the spec as a kgo reset offset (group mode).
func (s offsetSpec) kgoOffset() kgo.Offset {
	switch s.kind {
	case offsetBeginning:
		return kgo.NewOffset().AtStart()
	case offsetAbsolute:
		return kgo.NewOffset().At(s.n)
	case offsetFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-s.n)
	case offsetTime:
		return kgo.NewOffset().AfterMilli(s.n)
	}
	return kgo.NewOffset().AtEnd()
}

// partitionRange is a partition's log start offset and high watermark.
type partitionRange struct{ start, end int64 }

// topicRanges lists the start and end offsets of every partition of topic;
// a missing topic is an error.
func topicRanges(ctx context.Context, adm *kadm.Client, topic string) (map[int32]partitionRange, error) {
	tds, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[topic]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("topic %q does not exist", topic)
	}
	if td.Err != nil {
		return nil, fmt.Errorf("topic %q: %w", topic, td.Err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]partitionRange{}
	for p := range td.Partitions {
		s, ok1 := starts.Lookup(topic, p)
		e, ok2 := ends.Lookup(topic, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("topic %q partition %d: no offsets listed", topic, p)
		}
		if err := errors.Join(s.Err, e.Err); err != nil {
			return nil, fmt.Errorf("topic %q partition %d: %w", topic, p, err)
		}
		out[p] = partitionRange{s.Offset, e.Offset}
	}
	return out, nil
}

// resolveOffsets turns spec into an offset for each partition in ranges.
func resolveOffsets(ctx context.Context, adm *kadm.Client, topic string, spec offsetSpec, ranges map[int32]partitionRange) (map[int32]int64, error) {
	var byTime kadm.ListedOffsets
	if spec.kind == offsetTime {
		var err error
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topic); err != nil {
			return nil, err
		}
	}
	out := make(map[int32]int64, len(ranges))
	for p, r := range ranges {
		var at int64
		switch spec.kind {
		case offsetBeginning:
			at = r.start
		case offsetEnd:
			at = r.end
		case offsetAbsolute:
			at = spec.n
		case offsetFromEnd:
			at = r.end - spec.n
		case offsetTime:
			lo, ok := byTime.Lookup(topic, p)
			if !ok || lo.Err != nil {
				return nil, fmt.Errorf("partition %d: listing offsets by time: %v", p, lo.Err)
			}
			at = lo.Offset
			if at < 0 { // no record at or after the time
				at = r.end
			}
		}
		out[p] = max(r.start, min(at, r.end))
	}
	return out, nil
}

type consumeOptions struct {
	topic      string
	spec       offsetSpec
	partitions []int32
	count      int64
	exitAtEnd  bool
	group      string
	out        *recordFormatter
	// dec decodes registry-encoded keys (decodeKey) and values.
	dec                    *recordDecoder
	decodeKey, decodeValue bool
	// keySubject, valueSubject (--key-schema, --value-schema): the subject
	// every decoded key's (value's) schema id must be a version of.
	keySubject, valueSubject string
	registry                 *registryFlags
}

func runConsume(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "consume", consumeUsage, true)
	offset := c.own.String("offset", "end", "where to start: `WHERE` is beginning, end, N, -N or @UNIX_MS")
	var parts int32List
	c.own.Var(&parts, "partition", "consume only partition `P` (repeatable or comma-separated; default all)")
	var count int64
	c.own.Int64Var(&count, "n", 0, "exit after `COUNT` records (0: no limit)")
	c.own.Int64Var(&count, "count", 0, "same as -n")
	var exitAtEnd bool
	c.own.BoolVar(&exitAtEnd, "e", false, "exit when every partition reaches the end it had when consume started")
	c.own.BoolVar(&exitAtEnd, "exit-at-end", false, "same as -e")
	group := c.own.String("group", "", "consume as a member of consumer group `G`, committing offsets")
	format := c.own.String("format", "", "output `FORMAT`: json, or a format string as above (default '%v\\n')")
	decode := c.own.String("decode", "", "decode `WHAT` (value, key, or key,value) through the schema registry, printing JSON")
	valueSubject := c.own.String("value-schema", "", "decode values through the registry (as --decode value), and fail on a record whose schema id is not a version of `SUBJECT`")
	keySubject := c.own.String("key-schema", "", "decode keys through the registry (as --decode key), and fail on a record whose schema id is not a version of `SUBJECT`")
	rf := registerRegistryFlags(c.conn, false)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one TOPIC (run 'sluice consume --help')")
	}
	o := consumeOptions{topic: pos[0], partitions: parts, count: count, exitAtEnd: exitAtEnd, group: *group}
	if o.spec, err = parseOffsetSpec(*offset); err != nil {
		return usagef("--offset %v", err)
	}
	if count < 0 {
		return usagef("-n %d: want a positive count", count)
	}
	if o.group != "" && len(parts) > 0 {
		return usagef("--partition does not go with --group (the group assigns partitions)")
	}
	if *format == "" {
		*format = `%v\n`
	}
	if o.out, err = newRecordFormatter(*format); err != nil {
		return usageError{err}
	}
	if *valueSubject != "" {
		o.decodeValue, o.valueSubject = true, *valueSubject
	}
	if *keySubject != "" {
		o.decodeKey, o.keySubject = true, *keySubject
	}
	if *decode != "" || o.decodeKey || o.decodeValue {
		for _, w := range strings.Split(*decode, ",") {
			if *decode == "" {
				break
			}
			switch strings.TrimSpace(w) {
			case "value":
				o.decodeValue = true
			case "key":
				o.decodeKey = true
			default:
				return usagef("--decode %q: want value, key, or key,value", *decode)
			}
		}
		rf.timeout = c.cf.timeout
		if err := rf.finish(cio.getenv); err != nil {
			return err
		}
		cl, err := rf.client()
		if err != nil {
			return err
		}
		o.dec = newRecordDecoder(cl)
		o.out.decodedKey, o.out.decodedValue = o.decodeKey, o.decodeValue
		o.registry = rf
	}
	adm, err := c.cf.admin(ctx)
	if err != nil {
		return err
	}
	defer adm.Close()

	rctx, cancel := c.cf.requestCtx(ctx)
	ranges, err := topicRanges(rctx, adm, o.topic)
	cancel()
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	if len(o.partitions) > 0 {
		sel := map[int32]partitionRange{}
		for _, p := range o.partitions {
			r, ok := ranges[p]
			if !ok {
				return fmt.Errorf("topic %q has no partition %d (it has %d)", o.topic, p, len(ranges))
			}
			sel[p] = r
		}
		ranges = sel
	}
	rctx, cancel = c.cf.requestCtx(ctx)
	starts, err := resolveOffsets(rctx, adm, o.topic, o.spec, ranges)
	cancel()
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	w := bufio.NewWriterSize(cio.stdout, 64<<10)
	defer w.Flush()
	if o.group == "" {
		return consumePartitions(ctx, c.cf, &o, ranges, starts, w)
	}
	return consumeGroup(ctx, c.cf, adm, &o, ranges, starts, w)
}

// endTracker knows which partitions still have records before the end
// they had at the start (for -e).
type endTracker struct {
	mu       sync.Mutex
	target   map[int32]int64 // end offset at start
	pending  map[int32]bool  // partitions being consumed, not yet at target
	assigned bool            // some partitions were assigned (group mode)
}

func newEndTracker(ranges map[int32]partitionRange) *endTracker {
	t := &endTracker{target: map[int32]int64{}, pending: map[int32]bool{}}
	for p, r := range ranges {
		t.target[p] = r.end
	}
	return t
}

// start notes that partition p is consumed from offset at.
func (t *endTracker) start(p int32, at int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.assigned = true
	if at < t.target[p] {
		t.pending[p] = true
	} else {
		delete(t.pending, p)
	}
}

func (t *endTracker) stop(p int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, p)
}

// consumed notes that the record at offset in partition p was read.
func (t *endTracker) consumed(p int32, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if offset+1 >= t.target[p] {
		delete(t.pending, p)
	}
}

func (t *endTracker) done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.assigned && len(t.pending) == 0
}

// consumeLoop polls cl and prints records until -n, -e or the context
// ends. mark is called for every printed record (group commits).
func consumeLoop(ctx context.Context, cl *kgo.Client, o *consumeOptions, ends *endTracker, w *bufio.Writer, mark func(*kgo.Record)) error {
	var printed int64
	for {
		if o.count > 0 && printed >= o.count || ends != nil && ends.done() {
			return nil
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if ends != nil {
			// Wake up now and then: partitions can be done without
			// records (a group assignment already at the end).
			pctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
		}
		limit := 0 // PollRecords: no limit
		if o.count > 0 {
			limit = int(o.count - printed)
		}
		fetches := cl.PollRecords(pctx, limit)
		cancel()
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop following
		}
		var fatal error
		fetches.EachError(func(t string, p int32, err error) {
			switch {
			case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			case errors.Is(err, kgo.ErrClientClosed):
				fatal = err
			case kerr.IsRetriable(err):
			default:
				if fatal == nil {
					fatal = fmt.Errorf("partition %d: %w", p, err)
					if p < 0 {
						fatal = err
					}
				}
			}
		})
		if fatal != nil {
			return fatal
		}
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			if werr != nil || o.count > 0 && printed >= o.count {
				return
			}
			if ends != nil {
				ends.consumed(r.Partition, r.Offset)
			}
			if r.Attrs.IsControl() { // a transaction marker: skip it, but commit past it
				if mark != nil {
					mark(r)
				}
				return
			}
			var ids schemaIDs
			if o.dec != nil {
				if ids, werr = o.decodeRecord(ctx, r); werr != nil {
					return
				}
			}
			if werr = o.out.writeWith(w, r, ids); werr == nil {
				printed++
				if mark != nil {
					mark(r)
				}
			}
		})
		if werr == nil {
			werr = w.Flush()
		}
		if _, ok := werr.(*decodeError); ok {
			return werr
		}
		if werr != nil {
			return fmt.Errorf("writing output: %w", werr)
		}
	}
}

// decodeError is a record that does not decode (consume stops).
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// decodeRecord replaces r's registry-encoded key and value by their JSON
// text; a null key or value stays null.
func (o *consumeOptions) decodeRecord(ctx context.Context, r *kgo.Record) (schemaIDs, error) {
	var ids schemaIDs
	for _, f := range []struct {
		on      bool
		name    string
		b       *[]byte
		id      **uint32
		subject string
	}{{o.decodeKey, "key", &r.Key, &ids.key, o.keySubject}, {o.decodeValue, "value", &r.Value, &ids.value, o.valueSubject}} {
		if !f.on || *f.b == nil {
			continue
		}
		out, id, err := o.dec.decode(ctx, *f.b)
		if err == nil && f.subject != "" {
			err = o.dec.checkSubject(ctx, id, f.subject)
		}
		if err != nil {
			if _, ok := errors.AsType[*sr.ResponseError](err); ok || errors.Is(err, context.DeadlineExceeded) {
				err = registryErr(ctx, o.registry, err)
			}
			return ids, &decodeError{fmt.Errorf("partition %d offset %d: %s: %w", r.Partition, r.Offset, f.name, err)}
		}
		*f.b = out
		*f.id = &id
	}
	return ids, nil
}

func consumePartitions(ctx context.Context, cf *clientFlags, o *consumeOptions, ranges map[int32]partitionRange, starts map[int32]int64, w *bufio.Writer) error {
	var ends *endTracker
	offsets := map[int32]kgo.Offset{}
	if o.exitAtEnd {
		ends = newEndTracker(ranges)
	}
	for _, p := range slices.Sorted(maps.Keys(starts)) {
		offsets[p] = kgo.NewOffset().At(starts[p])
		if ends != nil {
			ends.start(p, starts[p])
		}
	}
	if ends != nil && ends.done() {
		return nil
	}
	cl, err := cf.connect(ctx,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: offsets}),
		kgo.KeepControlRecords(),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	return consumeLoop(ctx, cl, o, ends, w, nil)
}

func consumeGroup(ctx context.Context, cf *clientFlags, adm *kadm.Client, o *consumeOptions, ranges map[int32]partitionRange, starts map[int32]int64, w *bufio.Writer) error {
	var ends *endTracker
	var onErr error
	var errMu sync.Mutex
	opts := []kgo.Opt{
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(o.topic),
		kgo.ConsumeResetOffset(o.spec.kgoOffset()),
		kgo.AutoCommitMarks(),
		kgo.KeepControlRecords(),
	}
	if o.exitAtEnd {
		ends = newEndTracker(ranges)
		opts = append(opts,
			kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
				// Where does each assigned partition start? At its
				// committed offset, or else where --offset says.
				fetched, err := adm.FetchOffsetsForTopics(ctx, o.group, o.topic)
				if err == nil {
					err = fetched.Error()
				}
				if err != nil {
					errMu.Lock()
					onErr = fmt.Errorf("fetching the group's committed offsets: %w", err)
					errMu.Unlock()
				}
				for _, p := range assigned[o.topic] {
					at := starts[p]
					if c, ok := fetched.Lookup(o.topic, p); ok && c.Err == nil && c.At >= 0 {
						at = c.At
					}
					ends.start(p, at)
				}
			}),
			kgo.OnPartitionsRevoked(func(rctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
				for _, p := range revoked[o.topic] {
					ends.stop(p)
				}
				// As kgo does without this callback: commit what was marked.
				_ = cl.CommitMarkedOffsets(rctx)
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
				for _, p := range lost[o.topic] {
					ends.stop(p)
				}
			}),
		)
	}
	cl, err := cf.connect(ctx, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	loopErr := consumeLoop(ctx, cl, o, ends, w, func(r *kgo.Record) { cl.MarkCommitRecords(r) })
	// Commit what was printed, even when interrupted.
	cctx, cancel := cf.requestCtx(context.WithoutCancel(ctx))
	defer cancel()
	commitErr := cl.CommitMarkedOffsets(cctx)
	errMu.Lock()
	defer errMu.Unlock()
	switch {
	case loopErr != nil:
		return loopErr
	case onErr != nil:
		return onErr
	case commitErr != nil:
		return fmt.Errorf("committing offsets of group %q: %w", o.group, commitErr)
	}
	return nil
}
