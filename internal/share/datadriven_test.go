package share

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/datadriven"
)

// TestDataDriven runs testdata/*.txt: heartbeats, fetches (acquisitions),
// acknowledgements, ticks and admin requests in; responses, share-partition
// states and what is persisted out. Topics: t (id 01, 2 partitions) and u
// (id 02, 1 partition); the lock is 10s, the delivery limit 3, at most 8
// records in flight. Commands (g group, m member, p topic/partition):
//
//	heartbeat g= m= epoch= [topics=t,u]
//	acquire g= m= p=t/0 max= end= [init=0] [logstart=0]    a ShareFetch's acquisition
//	ack g= m= p=t/0 b=0-3:1,4:3,5-6:2.1 [renew]               batches: range:type or range:type.type...
//	state g= p=t/0                                          start offset and in-flight records
//	tick d=                                                 advance the clock; prints what to persist
//	offsets g= / alter g= p=t/0 off= / delete-offsets g= topic=t / delete g= / describe g= / list
//	restart                                                 a new coordinator replays what was persisted
//
// Every durable change is "persisted" (the broker's append is simulated)
// right after the command; restart replays the last record of each key.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/*.txt", func(t *testing.T, path string) {
		d := &shareDD{now: time.Unix(1_000_000, 0), log: map[Key][]byte{}}
		d.c = d.newCoordinator()
		datadriven.RunFile(t, path, d.do)
	})
}

type shareDD struct {
	c   *Coordinator
	now time.Time
	log map[Key][]byte // last persisted value by key (nil: tombstone)
}

var ddTopics = []TopicInfo{{Name: "t", ID: [16]byte{1}, Partitions: 2}, {Name: "u", ID: [16]byte{2}, Partitions: 1}}

func (d *shareDD) newCoordinator() *Coordinator {
	return New(Config{Now: func() time.Time { return d.now }, Topics: func() []TopicInfo { return ddTopics },
		LockDuration: 10 * time.Second, DeliveryLimit: 3, MaxRecordLocks: 8})
}

func topicName(id [16]byte) string {
	for _, t := range ddTopics {
		if t.ID == id {
			return t.Name
		}
	}
	return fmt.Sprintf("%x", id)
}

func parseTP(s string) TP {
	name, p, _ := strings.Cut(s, "/")
	n, _ := strconv.Atoi(p)
	for _, t := range ddTopics {
		if t.Name == name {
			return TP{t.ID, int32(n)}
		}
	}
	return TP{Partition: int32(n)}
}

func num(c *datadriven.Case, k string, def int64) int64 {
	v, err := strconv.ParseInt(c.Arg(k, strconv.FormatInt(def, 10)), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s: bad %s", c.Pos, k))
	}
	return v
}

func errName(err *kerr.Error) string {
	if err == nil {
		return "ok"
	}
	return err.Message
}

// persist simulates the broker: each key the coordinator changed gets its
// current record.
func (d *shareDD) persist(keys []Key) string {
	var out []string
	for _, k := range keys {
		v, _ := d.c.Persisted(k)
		d.log[k] = v
		if v == nil {
			out = append(out, fmt.Sprintf("persist %s %s/%d tombstone", k.Group, topicName(k.Topic), k.Partition))
			continue
		}
		s, err := DecodeValue(v, 0)
		if err != nil {
			out = append(out, "persist: "+err.Error())
			continue
		}
		var bs []string
		for _, b := range s.Batches {
			bs = append(bs, fmt.Sprintf("%d-%d:%s%d", b.First, b.Last, stateName(b.State), b.Count))
		}
		out = append(out, fmt.Sprintf("persist %s %s/%d start=%d epoch=%d [%s]", k.Group, topicName(k.Topic), k.Partition, s.Start, s.StateEpoch, strings.Join(bs, " ")))
	}
	return strings.Join(out, "\n")
}

func stateName(s int8) string {
	switch s {
	case Available:
		return "avail"
	case Acquired:
		return "acq"
	case Acknowledged:
		return "acked"
	case Archived:
		return "arch"
	}
	return "?"
}

func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "\n")
}

func (d *shareDD) do(c *datadriven.Case) string {
	g := c.Arg("g", "g")
	switch c.Cmd {
	case "heartbeat":
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch = g, c.Arg("m", ""), int32(num(c, "epoch", 0))
		if c.Has("topics") {
			req.SubscribedTopicNames = strings.Split(c.Arg("topics", ""), ",")
		}
		r := d.c.Heartbeat(req, "cl", "/127.0.0.1")
		if r.ErrorCode != 0 {
			return kerr.ErrorForCode(r.ErrorCode).Error()
		}
		s := fmt.Sprintf("member=%s epoch=%d", req.MemberID, r.MemberEpoch)
		if r.Assignment != nil {
			var as []string
			for _, tp := range r.Assignment.TopicPartitions {
				ps := make([]string, len(tp.Partitions))
				for i, p := range tp.Partitions {
					ps[i] = strconv.Itoa(int(p))
				}
				as = append(as, topicName(tp.TopicID)+":"+strings.Join(ps, ","))
			}
			s += " assignment=[" + strings.Join(as, " ") + "]"
		}
		return join(s, d.persist(d.c.TakeDirty()))
	case "acquire":
		k := Key{g, parseTP(c.Arg("p", "t/0"))}
		rs := d.c.Acquire(k, c.Arg("m", ""), int(num(c, "max", 500)), View{LogStart: num(c, "logstart", 0), End: num(c, "end", 0), Init: num(c, "init", 0)})
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%d-%d@%d", r.First, r.Last, r.DeliveryCount))
		}
		if len(out) == 0 {
			out = append(out, "none")
		}
		return join(strings.Join(out, " "), d.persist(d.c.TakeDirty()))
	case "ack":
		k := Key{g, parseTP(c.Arg("p", "t/0"))}
		var bs []AckBatch
		for _, b := range strings.Split(c.Arg("b", ""), ",") {
			rng, types, _ := strings.Cut(b, ":")
			f, l, ok := strings.Cut(rng, "-")
			if !ok {
				l = f
			}
			first, _ := strconv.ParseInt(f, 10, 64)
			last, _ := strconv.ParseInt(l, 10, 64)
			var ts []int8
			for _, t := range strings.Split(types, ".") {
				n, _ := strconv.Atoi(t)
				ts = append(ts, int8(n))
			}
			bs = append(bs, AckBatch{First: first, Last: last, Types: ts})
		}
		seq, err := d.c.Acknowledge(k, c.Arg("m", ""), bs, c.Has("renew"))
		if err != nil || seq == 0 {
			return errName(err)
		}
		return join("ok", d.persist([]Key{k}), d.persist(d.c.TakeDirty()))
	case "state":
		return d.state(g, parseTP(c.Arg("p", "t/0")))
	case "tick":
		dur, err := time.ParseDuration(c.Arg("d", "0s"))
		if err != nil {
			return err.Error()
		}
		d.now = d.now.Add(dur)
		d.c.Tick(d.now)
		return join(d.persist(d.c.TakeDirty()), ".")
	case "offsets":
		offs, ok := d.c.Offsets(g)
		if !ok {
			return "GROUP_ID_NOT_FOUND"
		}
		var out []string
		for _, o := range offs {
			out = append(out, fmt.Sprintf("%s/%d start=%d done=%d", topicName(o.Topic), o.Partition, o.Start, o.Done))
		}
		return join(strings.Join(out, "\n"), ".")
	case "alter":
		keys, err := d.c.AlterOffsets(g, map[TP]int64{parseTP(c.Arg("p", "t/0")): num(c, "off", 0)})
		if err != nil {
			return errName(err)
		}
		return d.persist(keys)
	case "delete-offsets":
		var id [16]byte
		for _, t := range ddTopics {
			if t.Name == c.Arg("topic", "") {
				id = t.ID
			}
		}
		keys, err := d.c.DeleteOffsets(g, [][16]byte{id})
		if err != nil {
			return errName(err)
		}
		return join(d.persist(keys), "ok")
	case "delete":
		keys, err := d.c.DeleteGroup(g)
		if err != nil {
			return errName(err)
		}
		return join(d.persist(keys), "ok")
	case "describe":
		desc, ok := d.c.Describe(g)
		if !ok {
			return "GROUP_ID_NOT_FOUND"
		}
		out := []string{fmt.Sprintf("state=%s epoch=%d assignment-epoch=%d", desc.State, desc.Epoch, desc.AssignmentEpoch)}
		for _, m := range desc.Members {
			var as []string
			for _, tp := range m.Assigned {
				as = append(as, fmt.Sprintf("%s/%d", topicName(tp.Topic), tp.Partition))
			}
			out = append(out, fmt.Sprintf("  %s epoch=%d topics=%s assigned=[%s]", m.ID, m.Epoch, strings.Join(m.Topics, ","), strings.Join(as, " ")))
		}
		return strings.Join(out, "\n")
	case "list":
		var out []string
		for _, l := range d.c.ListGroups() {
			out = append(out, l.ID+" "+l.State)
		}
		return join(strings.Join(out, "\n"), ".")
	case "restart":
		d.c = d.newCoordinator()
		keys := make([]Key, 0, len(d.log))
		for k := range d.log {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, cmpKey)
		for _, k := range keys {
			if err := d.c.Replay(EncodeKey(k), d.log[k]); err != nil {
				return err.Error()
			}
		}
		return fmt.Sprintf("replayed %d", len(keys))
	}
	return "unknown command " + c.Cmd
}

func (d *shareDD) state(g string, tp TP) string {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	grp := d.c.groups[g]
	if grp == nil || grp.parts[tp] == nil {
		return "no share-partition"
	}
	p := grp.parts[tp]
	var rs []string
	for i, r := range p.recs {
		s := fmt.Sprintf("%d:%s%d", p.start+int64(i), stateName(r.state), r.count)
		if r.state == Acquired {
			s += "(" + r.member + ")"
		}
		rs = append(rs, s)
	}
	return fmt.Sprintf("start=%d [%s]", p.start, strings.Join(rs, " "))
}
