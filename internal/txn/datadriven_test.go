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
}

func newDD() *ddHarness {
	d := &ddHarness{now: time.UnixMilli(1_700_000_000_000), next: 1000, held: map[string]*Write{}, comps: map[string]*Completion{}}
	d.c = d.newCoordinator()
	return d
}

func (d *ddHarness) newCoordinator() *Coordinator {
	return New(Config{MaxTimeout: 15 * time.Minute, IDExpiration: 24 * time.Hour,
		NextProducerID: func() (int64, error) { d.next++; return d.next, nil }})
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
	d.printf("write %s: %s", w.ID, describeWrite(w))
	d.log = append(d.log, [2][]byte{w.Key, w.Value})
	return d.c.Applied(w, nil)
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
		for _, w := range d.c.Tick(d.now) {
			if err := d.write(w, nil); err != nil {
				d.printf("error: %s", errName(err))
				continue
			}
			d.completion(w.Abort, "timed out, markers")
		}
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
		d.result(d.c.Applied(w, err), "applied")
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
