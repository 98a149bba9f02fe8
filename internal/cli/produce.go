package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/twmb/franz-go/pkg/kgo"
)

const produceUsage = `Usage: sluice produce TOPIC [flags] < LINES

Sends each line of standard input (without its newline) as one record to
TOPIC, and prints "produced N records" on stderr at the end. If any record
is not acknowledged, or a line does not match --format, it stops with a
one-line error instead and a non-zero exit status. On a terminal, the count
so far is shown on stderr while producing.

A line is the record's value, unless:
  --key-delimiter D   the line is KEY D VALUE, split at the first D; a line
                      without D is all value, with a null key (as kcat -K)
  --format F          the line is parsed by F, kcat style: %k key, %v (or %s)
                      value, %p partition, %T timestamp (Unix ms), %% a
                      percent sign, anything else literal text that must be
                      there; tokens need literal text between them, and the
                      last token takes the rest of the line
Both take the escapes \t, \n, \r, \0 and \\.

With --value-schema (and --key-schema), each value (key) is a JSON text,
written in Confluent's schema registry wire format: SUBJECT's latest
schema is used, or, when the argument is a schema file (.avsc Avro,
.proto Protobuf, .json JSON Schema, else Avro), the file is registered
under TOPIC-value (TOPIC-key), Confluent's TopicNameStrategy. Avro takes
Avro's JSON encoding with union values either plain ({"f": 5}) or tagged
({"f": {"int": 5}}); Protobuf takes protojson of the file's first message
type; JSON Schema input is validated. A line that does not match stops
produce with its line number. The registry flags (--registry, ...) are
those of 'sluice schema'.

Without --partition or %p, records go to the default partitioner's choice
(by key hash when there is a key, as the Java client does). A missing topic
is created if the broker creates topics on use (auto.create.topics.enable).

Examples:
  echo hello | sluice produce greetings
  printf 'user1:login\nuser2:logout\n' | sluice produce events --key-delimiter :
  sluice produce events --format '%k\t%T\t%v' < events.tsv
  sluice produce events --header source=import --compression zstd --acks 1 < data.txt
  seq 1000 | sluice produce numbers --partition 0
  echo '{"id":7,"item":"book"}' | sluice produce orders --value-schema order.avsc
  sluice produce orders --key-delimiter '|' --value-schema orders-value < orders.jsonl

Flags:
`

type produceOptions struct {
	topic       string
	parser      *lineParser
	headers     [][2]string
	partition   int32 // -1: the partitioner's choice
	compression kgo.CompressionCodec
	acks        kgo.Acks
	idempotent  bool
	// keyEnc and valueEnc, when set, turn the line's JSON key and value
	// into registry-encoded bytes.
	keyEnc, valueEnc *recordEncoder
}

func runProduce(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "produce", produceUsage, true)
	keyDelim := c.own.String("key-delimiter", "", "split each line into key and value at the first `D`")
	format := c.own.String("format", "", "parse each line with `FORMAT` (%k %v %s %p %T and literal text)")
	var headers cmdline.MultiFlag
	c.own.Var(&headers, "header", "add header `KEY=VALUE` to every record (repeatable)")
	partition := c.own.Int("partition", -1, "send every record to partition `N` (-1: the partitioner's choice)")
	compression := c.own.String("compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	acks := c.own.String("acks", "all", "acknowledgement to wait for: all, 1 or 0 (1 and 0 disable idempotence)")
	valueSchema := c.own.String("value-schema", "", "encode JSON values with `SUBJECT`'s latest schema, or register schema FILE under TOPIC-value")
	keySchema := c.own.String("key-schema", "", "encode JSON keys with `SUBJECT`'s latest schema, or register schema FILE under TOPIC-key")
	rf := registerRegistryFlags(c.conn, false)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one TOPIC (run 'sluice produce --help')")
	}
	o := produceOptions{topic: pos[0], partition: int32(*partition), idempotent: true}
	if err := meta.ValidateTopicName(o.topic); err != nil {
		return usagef("topic %q: %v", o.topic, err)
	}
	switch {
	case *keyDelim != "" && *format != "":
		return usagef("--key-delimiter and --format do not go together (use --format '%%k<D>%%v')")
	case *format != "":
		if o.parser, err = newLineParser(*format); err != nil {
			return usagef("--format %q: %v", *format, err)
		}
		if o.parser.hasToken('p') && *partition >= 0 {
			return usagef("--partition and %%p in --format do not go together")
		}
	default:
		d, err := unescape(*keyDelim)
		if err != nil {
			return usagef("--key-delimiter %q: %v", *keyDelim, err)
		}
		o.parser = &lineParser{keyDelim: d}
	}
	if o.headers, err = keyValues("header", headers); err != nil {
		return err
	}
	if *partition < -1 {
		return usagef("--partition %d: want a partition number", *partition)
	}
	if o.compression, err = cmdline.CompressionCodec(*compression); err != nil {
		return usageError{err}
	}
	switch *acks {
	case "all", "-1":
		o.acks = kgo.AllISRAcks()
	case "1":
		o.acks, o.idempotent = kgo.LeaderAck(), false
	case "0":
		o.acks, o.idempotent = kgo.NoAck(), false
	default:
		return usagef("--acks %q: want all, 1 or 0", *acks)
	}

	if *valueSchema != "" || *keySchema != "" {
		if err := setupEncoders(ctx, cio, c.cf, rf, &o, *keySchema, *valueSchema); err != nil {
			return err
		}
	}

	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(o.topic),
		kgo.AllowAutoTopicCreation(), // as other producers; the broker decides
		kgo.ProducerBatchCompression(o.compression),
		kgo.RequiredAcks(o.acks),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if !o.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if o.partition >= 0 || o.parser.hasToken('p') {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := c.cf.connect(ctx, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return produceLines(ctx, cl, &o, c.cf.timeout, cio.stdin, cio.stderr)
}

// producer counts acknowledgements and keeps the first failure.
type producer struct {
	ok, failed atomic.Int64
	stalled    atomic.Bool
	mu         sync.Mutex
	firstErr   error
}

// watch fails the buffered records if none has been acknowledged for
// timeout while some are waiting: the brokers stopped answering. (kgo's
// RecordDeliveryTimeout would count from the records' timestamps, which
// --format %T may set far in the past.)
func (p *producer) watch(cl *kgo.Client, timeout time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(min(timeout/4, time.Second))
	defer tick.Stop()
	last, since := int64(-1), time.Now()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		n := p.ok.Load() + p.failed.Load()
		if n != last || cl.BufferedProduceRecords() == 0 {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) >= timeout {
			p.stalled.Store(true)
			cl.UnsafeAbortBufferedRecords()
			return
		}
	}
}

func (p *producer) done(r *kgo.Record, err error) {
	if err == nil {
		p.ok.Add(1)
		return
	}
	p.failed.Add(1)
	p.mu.Lock()
	if p.firstErr == nil {
		p.firstErr = fmt.Errorf("partition %d: %w", r.Partition, err)
		if r.Partition < 0 {
			p.firstErr = err
		}
	}
	p.mu.Unlock()
}

// produceLines sends every line of in and waits for the acknowledgements.
func produceLines(ctx context.Context, cl *kgo.Client, o *produceOptions, timeout time.Duration, in io.Reader, stderr io.Writer) error {
	var p producer
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() { defer close(watched); p.watch(cl, timeout, stopWatch) }()
	var progress io.Writer // only on a terminal
	if cmdline.Terminal(stderr) {
		progress = stderr
	}
	stopProgress := cmdline.Progress(progress, func() string { return "produced " + records(p.ok.Load()) })

	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	lines := readLines(rctx, in)
	var readErr error
	lineNo := 0
	for readErr == nil {
		var l lineOrErr
		var more bool
		select {
		case <-ctx.Done():
			readErr = errors.New("interrupted")
			continue
		case l, more = <-lines:
		}
		if !more {
			break
		}
		if l.err != nil {
			readErr = fmt.Errorf("reading standard input: %w", l.err)
			break
		}
		lineNo++
		f, err := o.parser.parse(l.line)
		if err != nil {
			readErr = fmt.Errorf("line %d does not match --format: %v", lineNo, err)
			break
		}
		if err := o.encode(&f); err != nil {
			readErr = fmt.Errorf("line %d: %v", lineNo, err)
			break
		}
		r := &kgo.Record{Key: f.key, Value: f.value, Partition: o.partition}
		if f.hasPartition {
			r.Partition = f.partition
		}
		if f.hasTimestamp {
			r.Timestamp = time.UnixMilli(f.timestamp)
		}
		for _, h := range o.headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
		}
		cl.Produce(ctx, r, p.done)
	}
	// Wait for what was sent: Flush returns once every record is
	// acknowledged or has failed (the watch fails them after --timeout
	// without progress).
	flushErr := cl.Flush(ctx)
	close(stopWatch)
	<-watched
	stopProgress()
	ok, failed := p.ok.Load(), p.failed.Load()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted (%s produced)", records(ok))
	case p.stalled.Load():
		return fmt.Errorf("%d of %s failed (%d produced): no acknowledgement from the brokers for %v (--timeout)", failed, records(ok+failed), ok, timeout)
	case failed > 0:
		return fmt.Errorf("%d of %s failed (%d produced): %v", failed, records(ok+failed), ok, p.firstErr)
	case readErr != nil:
		return fmt.Errorf("%v (%s produced)", readErr, records(ok))
	case flushErr != nil:
		return flushErr
	}
	fmt.Fprintf(stderr, "produced %s\n", records(ok))
	return nil
}

// setupEncoders connects to the registry and prepares the encoders.
func setupEncoders(ctx context.Context, cio *cmdIO, cf *clientFlags, rf *registryFlags, o *produceOptions, keySchema, valueSchema string) error {
	rf.timeout = cf.timeout
	if err := rf.finish(cio.getenv); err != nil {
		return err
	}
	cl, err := rf.client()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	for _, s := range []struct {
		arg   string
		isKey bool
		into  **recordEncoder
	}{{keySchema, true, &o.keyEnc}, {valueSchema, false, &o.valueEnc}} {
		if s.arg == "" {
			continue
		}
		src, err := parseSchemaSource(s.arg, o.topic, s.isKey)
		if err != nil {
			return err
		}
		if *s.into, err = newRecordEncoder(rctx, cl, src); err != nil {
			return registryErr(ctx, rf, err)
		}
	}
	if o.keyEnc != nil && o.parser.parts == nil && o.parser.keyDelim == "" {
		return usagef("--key-schema needs keys: use --key-delimiter or --format with %%k")
	}
	return nil
}

// encode replaces the JSON key and value of f by their registry encoding.
func (o *produceOptions) encode(f *lineFields) error {
	var err error
	if o.valueEnc != nil && f.value != nil {
		if f.value, err = o.valueEnc.encode(nil, f.value); err != nil {
			return fmt.Errorf("value %v", err)
		}
	}
	if o.keyEnc != nil && f.key != nil {
		if f.key, err = o.keyEnc.encode(nil, f.key); err != nil {
			return fmt.Errorf("key %v", err)
		}
	}
	return nil
}

func records(n int64) string { return fmt.Sprintf("%d record%s", n, cmdline.Plural(int(n))) }

type lineOrErr struct {
	line []byte
	err  error
}

// readLines reads lines in a goroutine, so an interrupt is seen while a
// read from a terminal blocks. The channel closes at the end of input.
func readLines(ctx context.Context, in io.Reader) <-chan lineOrErr {
	ch := make(chan lineOrErr, 256)
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			} else if len(line) == 0 && err == io.EOF {
				return
			}
			if err != nil && err != io.EOF {
				select {
				case ch <- lineOrErr{err: err}:
				case <-ctx.Done():
				}
				return
			}
			select {
			case ch <- lineOrErr{line: line}:
			case <-ctx.Done():
				return
			}
			if err == io.EOF {
				return
			}
		}
	}()
	return ch
}
