package txn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/datadriven"
)

// TestDataDriven runs testdata/*.txt: requests, ticks and log writes in,
// responses and the transaction log records out. Commands:
//
//	init id= timeout= [pid= epoch=]      InitProducerId (KIP-360 fields)
//	add id= pid= epoch= parts=t/0,t/1    AddPartitionsToTxn
//	verify id= pid= epoch= part=t/0      the Produce check
//	end id= pid= epoch= commit=true [v2] EndTxn
//	complete id=                         markers written: Complete
//	tick d=                              advance the clock and Tick
//	describe id=                         the id's state
//	hold / auto                          writes wait for apply / are applied at once
//	apply id= [err]                      report the held write of id
//	restart                              a new coordinator replays the log; Loaded
//	pids hold / pids give                asked-for producer id blocks wait / are handed in
//
// Timers are printed as the coordinator hands them out: an applied
// write's deadline (timer=+10s: its id needs a Tick 10 s from now) and
// the next deadline Tick returns. When a result asks for producer ids the
// harness hands in the next block of 10 and prints it.
//
// Run with -rewrite to regenerate the expected output.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/*.txt", func(t *testing.T, path string) {
		d := newDD()
		datadriven.RunFile(t, path, d.do)
	})
}

type ddHarness struct {
	c     *Coordinator
	now   time.Time
	next  int64
	hold  bool
	held  map[string]*Write
	comps map[string]*Completion
	log   [][2][]byte
	out   strings.Builder

	holdPIDs, askedPIDs bool
}

func newDD() *ddHarness {
	d := &ddHarness{now: time.UnixMilli(1_700_000_000_000), next: 1001, held: map[string]*Write{}, comps: map[string]*Completion{}}
	d.c = d.newCoordinator()
	return d
}

// newCoordinator is a coordinator with a first block of producer ids, as
// the broker hands one in before the first InitProducerId.
func (d *ddHarness) newCoordinator() *Coordinator {
	c := New(Config{MaxTimeout: 15 * time.Minute, IDExpiration: 24 * time.Hour})
	c.ProducerIDs(ProducerIDBlock{d.next, d.next + 10}, nil)
	d.next += 10
	return c
}

// pids hands in a block of producer ids when a result asked for one
// (unless held: the persist is slow).
func (d *ddHarness) pids(need bool) {
	if !need {
		return
	}
	if d.holdPIDs {
		d.askedPIDs = true
		d.printf("producer ids: asked (held)")
		return
	}
	d.printf("producer ids: block [%d,%d)", d.next, d.next+10)
	d.c.ProducerIDs(ProducerIDBlock{d.next, d.next + 10}, nil)
	d.next += 10
}

// timer is a deadline relative to the harness's clock.
func (d *ddHarness) timer(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return "+" + t.Sub(d.now).String()
}

func (d *ddHarness) printf(format string, args ...any) { fmt.Fprintf(&d.out, format+"\n", args...) }

func errName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// describeWrite decodes a transaction log record.
func describeWrite(w *Write) string {
	if w.Value == nil {
		return "tombstone"
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(w.Value); err != nil {
		return "unreadable: " + err.Error()
	}
	var parts []string
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s/%d", t.Topic, p))
		}
	}
	return fmt.Sprintf("%s pid=%d epoch=%d prev=%d next=%d tv=%d parts=[%s]", State(v.State), v.ProducerID, v.ProducerEpoch,
		v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion, strings.Join(parts, " "))
}

// write handles a coordinator write: applied at once, or held.
func (d *ddHarness) write(w *Write, err error) error {
	if err != nil || w == nil {
		return err
	}
	if d.hold {
		d.held[w.ID] = w
		d.printf("write %s: %s (held)", w.ID, describeWrite(w))
		return nil
	}
	d.log = append(d.log, [2][]byte{w.Key, w.Value})
	err = d.c.Applied(w, nil)
	d.printf("write %s: %s timer=%s", w.ID, describeWrite(w), d.timer(w.Deadline))
	return err
}

func (d *ddHarness) result(err error, ok string) {
	if err != nil {
		d.printf("error: %s", errName(err))
		return
	}
	d.printf("%s", ok)
}

func (d *ddHarness) completion(comp *Completion, what string) {
	if comp == nil {
		return
	}
	var parts []string
	for _, p := range comp.Partitions {
		parts = append(parts, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
	}
	d.comps[comp.TransactionalID] = comp
	d.printf("%s %s: commit=%t pid=%d epoch=%d parts=[%s]", what, comp.TransactionalID, comp.Commit, comp.ProducerID, comp.Epoch, strings.Join(parts, " "))
}

func num(c *datadriven.Case, key string, def int64) int64 {
	n, err := strconv.ParseInt(c.Arg(key, strconv.FormatInt(def, 10)), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s: %s: %v", c.Pos, key, err))
	}
	return n
}

func dur(c *datadriven.Case, key, def string) time.Duration {
	x, err := time.ParseDuration(c.Arg(key, def))
	if err != nil {
		panic(fmt.Sprintf("%s: %s: %v", c.Pos, key, err))
	}
	return x
}

func parts(s string) []TopicPartition {
	var out []TopicPartition
	for _, f := range strings.Split(s, ",") {
		t, p, _ := strings.Cut(f, "/")
		n, _ := strconv.Atoi(p)
		out = append(out, TopicPartition{t, int32(n)})
	}
	return out
}

func (d *ddHarness) do(c *datadriven.Case) string {
	d.out.Reset()
	id := c.Arg("id", "")
	pid, epoch := num(c, "pid", -1), int16(num(c, "epoch", -1))
	switch c.Cmd {
	case "init":
		res, w, err := d.c.InitProducerID(id, dur(c, "timeout", "10s"), pid, epoch, d.now)
		d.pids(res.NeedProducerIDs)
		err = d.write(w, err)
		d.result(err, fmt.Sprintf("pid=%d epoch=%d", res.ProducerID, res.Epoch))
		if err == nil {
			d.completion(res.Abort, "abort")
		}
	case "add":
		d.result(d.write(d.c.AddPartitions(id, pid, epoch, parts(c.Arg("parts", "")), d.now)), "ok")
	case "verify":
		d.result(d.c.Verify(id, pid, epoch, parts(c.Arg("part", ""))[0]), "ok")
	case "end":
		res, w, err := d.c.EndTxn(id, pid, epoch, c.Arg("commit", "true") == "true", c.Has("v2"), d.now)
		d.pids(res.NeedProducerIDs)
		err = d.write(w, err)
		d.result(err, fmt.Sprintf("pid=%d epoch=%d", res.ProducerID, res.Epoch))
		if err == nil {
			d.completion(res.Completion, "markers")
		}
	case "complete":
		comp := d.comps[id]
		if comp == nil {
			return "no completion for " + id
		}
		delete(d.comps, id)
		d.result(d.write(d.c.Complete(comp)), "ok")
	case "tick":
		d.now = d.now.Add(dur(c, "d", "0s"))
		ws, next := d.c.Tick(d.now)
		for _, w := range ws {
			if err := d.write(w, nil); err != nil {
				d.printf("error: %s", errName(err))
				continue
			}
			d.completion(w.Abort, "timed out, markers")
		}
		d.printf("next tick %s", d.timer(next))
	case "describe":
		in, ok := d.c.Get(id)
		if !ok {
			return "unknown"
		}
		var ps []string
		for _, p := range in.Partitions {
			ps = append(ps, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
		}
		d.printf("%s pid=%d epoch=%d parts=[%s]", in.State, in.ProducerID, in.Epoch, strings.Join(ps, " "))
	case "hold":
		d.hold = true
	case "auto":
		d.hold = false
	case "apply":
		w := d.held[id]
		if w == nil {
			return "no write held for " + id
		}
		delete(d.held, id)
		var err error
		if c.Has("err") {
			err = errors.New("disk full")
		} else {
			d.log = append(d.log, [2][]byte{w.Key, w.Value})
		}
		aerr := d.c.Applied(w, err)
		d.result(aerr, "applied timer="+d.timer(w.Deadline))
	case "pids":
		d.holdPIDs = c.Has("hold")
		if c.Has("give") && d.askedPIDs {
			d.askedPIDs = false
			d.pids(true)
		}
	case "restart":
		d.c = d.newCoordinator()
		for _, r := range d.log {
			if err := d.c.Replay(r[0], r[1]); err != nil {
				d.printf("replay: %v", err)
			}
		}
		for _, comp := range d.c.Loaded(d.now) {
			d.completion(comp, "complete after restart")
		}
	default:
		return "unknown command " + c.Cmd
	}
	return d.out.String()
}
