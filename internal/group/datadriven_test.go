package group

import (
	"errors"
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

// TestDataDriven runs testdata/*.txt: requests, ticks and the outcome of
// the coordinator's writes in; responses and the records written to
// __consumer_offsets out, in the order they happen. Commands (g group, m
// member id, gen generation, inst group.instance.id):
//
//	join g= [m=] [inst=] [protos=range,...] [session=10s] [rebalance=] [v=9]
//	sync g= m= gen= [inst=] [assign=m1:x,m2:y]    (leader's assignment)
//	heartbeat g= m= gen= [inst=]
//	leave g= m=
//	commit g= [m=] [gen=-1] [v=8] offsets=t/0@10,t/1@20
//	txn-commit g= pid= epoch= offsets=t/0@10
//	end-txn g= pid= commit=true|false     (the marker is in the group's partition)
//	fetch g=                              committed offsets
//	describe g=                           DescribeGroups
//	delete g= / delete-offsets g= parts=t/0
//	cg-heartbeat g= m= epoch= [topics=t,u] [assignor=] [inst=]   (KIP-848)
//	tick d=                               advance the clock and Tick
//	hold / auto                           writes wait for apply / are applied at once
//	apply g= [err]                        report the group's oldest held write
//	restart                               a new coordinator replays what was written
//
// Asynchronous answers are numbered (join#1) and printed when they come.
// Timers are printed as the coordinator hands them out: "timer +10s" when
// a request or an applied write makes a deadline earlier than the one the
// driver knows (Config.Timer), "next +10s" for the deadline Tick returns,
// relative to the clock. The harness ticks once when a coordinator starts,
// as the broker does.
// Run with -rewrite to regenerate the expected output.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/*.txt", func(t *testing.T, path string) {
		d := newGroupDD()
		datadriven.RunFile(t, path, d.do)
	})
}

type groupDD struct {
	c    *Coordinator
	now  time.Time
	ids  int
	seq  int
	hold bool
	held []*Write
	log  []ddRecord
	out  []string
}

type ddRecord struct {
	pid  int64 // -1: plain
	part int32
	Record
}

func newGroupDD() *groupDD {
	d := &groupDD{now: time.UnixMilli(1_700_000_000_000)}
	d.c = d.newCoordinator()
	d.c.Tick(d.now)
	return d
}

func (d *groupDD) newCoordinator() *Coordinator {
	topics := []TopicInfo{{Name: "t", ID: [16]byte{1}, Partitions: 4}, {Name: "u", ID: [16]byte{2}, Partitions: 2}}
	return New(Config{Now: func() time.Time { return d.now }, Write: d.write, Partitions: 4,
		InitialRebalanceDelay: 0, MinSessionTimeout: time.Second,
		ConsumerSessionTimeout: 45 * time.Second, ConsumerHeartbeatInterval: 5 * time.Second,
		OffsetsRetention: 24 * time.Hour, RetentionCheckInterval: time.Minute,
		NewID:  func() string { d.ids++; return strconv.Itoa(d.ids) },
		Topics: func() []TopicInfo { return topics },
		Timer:  func(t time.Time) { d.printf("timer +%s", t.Sub(d.now)) }})
}

func (d *groupDD) printf(format string, args ...any) {
	d.out = append(d.out, fmt.Sprintf(format, args...))
}

func (d *groupDD) write(w *Write) {
	for _, r := range w.Records {
		txn := ""
		if w.ProducerID >= 0 {
			txn = fmt.Sprintf(" txn=%d/%d", w.ProducerID, w.ProducerEpoch)
		}
		held := ""
		if d.hold {
			held = " (held)"
		}
		d.printf("write %s p=%d%s: %s%s", w.Group, w.Partition, txn, describeRecord(r), held)
	}
	if d.hold {
		d.held = append(d.held, w)
		return
	}
	d.logWrite(w)
	d.c.Applied(w, nil)
}

func (d *groupDD) logWrite(w *Write) {
	for _, r := range w.Records {
		d.log = append(d.log, ddRecord{w.ProducerID, w.Partition, r})
	}
}

// describeRecord decodes a __consumer_offsets record.
func describeRecord(r Record) string {
	if len(r.Key) >= 2 && r.Key[1] == 2 {
		var k kmsg.GroupMetadataKey
		k.ReadFrom(r.Key)
		if r.Value == nil {
			return "metadata tombstone"
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			return "unreadable metadata: " + err.Error()
		}
		var ms []string
		for _, m := range v.Members {
			s := m.MemberID
			if m.InstanceID != nil {
				s += "(" + *m.InstanceID + ")"
			}
			if len(m.Assignment) > 0 {
				s += "=" + string(m.Assignment)
			}
			ms = append(ms, s)
		}
		return fmt.Sprintf("metadata type=%s gen=%d proto=%s leader=%s members=[%s]", v.ProtocolType, v.Generation, deref(v.Protocol), deref(v.Leader), strings.Join(ms, " "))
	}
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.Key); err != nil {
		return "unreadable key"
	}
	if r.Value == nil {
		return fmt.Sprintf("offset %s/%d tombstone", k.Topic, k.Partition)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		return "unreadable offset: " + err.Error()
	}
	return fmt.Sprintf("offset %s/%d=%d", k.Topic, k.Partition, v.Offset)
}

func ddErr(c int16) string {
	if c == 0 {
		return "ok"
	}
	return kerr.ErrorForCode(c).(*kerr.Error).Message
}

func (d *groupDD) async(what string) (string, func(string)) {
	d.seq++
	name := fmt.Sprintf("%s#%d", what, d.seq)
	return name, func(s string) { d.printf("%s: %s", name, s) }
}

func offsets(s string) (out []struct {
	t string
	p int32
	o int64
}) {
	for _, f := range strings.Split(s, ",") {
		tp, o, _ := strings.Cut(f, "@")
		t, p, _ := strings.Cut(tp, "/")
		pn, _ := strconv.Atoi(p)
		on, _ := strconv.ParseInt(o, 10, 64)
		out = append(out, struct {
			t string
			p int32
			o int64
		}{t, int32(pn), on})
	}
	return out
}

func ddNum(c *datadriven.Case, key string, def int64) int64 {
	n, err := strconv.ParseInt(c.Arg(key, strconv.FormatInt(def, 10)), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s: %s: %v", c.Pos, key, err))
	}
	return n
}

func ddDur(c *datadriven.Case, key, def string) time.Duration {
	x, err := time.ParseDuration(c.Arg(key, def))
	if err != nil {
		panic(fmt.Sprintf("%s: %s: %v", c.Pos, key, err))
	}
	return x
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (d *groupDD) do(c *datadriven.Case) string {
	d.out = nil
	g, m := c.Arg("g", "g"), c.Arg("m", "")
	switch c.Cmd {
	case "join":
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = int16(ddNum(c, "v", 9))
		req.Group, req.MemberID, req.InstanceID, req.ProtocolType = g, m, strPtr(c.Arg("inst", "")), c.Arg("type", "consumer")
		req.SessionTimeoutMillis = int32(ddDur(c, "session", "10s").Milliseconds())
		req.RebalanceTimeoutMillis = int32(ddDur(c, "rebalance", c.Arg("session", "10s")).Milliseconds())
		for _, p := range strings.Split(c.Arg("protos", "range"), ",") {
			rp := kmsg.NewJoinGroupRequestProtocol()
			rp.Name, rp.Metadata = p, []byte(c.Arg("meta", "md"))
			req.Protocols = append(req.Protocols, rp)
		}
		name, say := d.async("join")
		d.c.JoinGroup(req, "c", "/127.0.0.1", func(r *kmsg.JoinGroupResponse) {
			if r.ErrorCode != 0 {
				say(fmt.Sprintf("%s member=%s", ddErr(r.ErrorCode), r.MemberID))
				return
			}
			var ms []string
			for _, x := range r.Members {
				ms = append(ms, x.MemberID)
			}
			skip := ""
			if r.SkipAssignment {
				skip = " skip-assignment"
			}
			say(fmt.Sprintf("gen=%d proto=%s leader=%s member=%s members=[%s]%s", r.Generation, deref(r.Protocol), r.LeaderID, r.MemberID, strings.Join(ms, " "), skip))
		})
		d.pending(name)
	case "sync":
		req := kmsg.NewPtrSyncGroupRequest()
		req.Group, req.MemberID, req.Generation, req.InstanceID = g, m, int32(ddNum(c, "gen", -1)), strPtr(c.Arg("inst", ""))
		if a := c.Arg("assign", ""); a != "" {
			for _, f := range strings.Split(a, ",") {
				id, data, _ := strings.Cut(f, ":")
				ga := kmsg.NewSyncGroupRequestGroupAssignment()
				ga.MemberID, ga.MemberAssignment = id, []byte(data)
				req.GroupAssignment = append(req.GroupAssignment, ga)
			}
		}
		name, say := d.async("sync")
		d.c.SyncGroup(req, func(r *kmsg.SyncGroupResponse) {
			if r.ErrorCode != 0 {
				say(ddErr(r.ErrorCode))
				return
			}
			say("assignment=" + string(r.MemberAssignment))
		})
		d.pending(name)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation, req.InstanceID = g, m, int32(ddNum(c, "gen", -1)), strPtr(c.Arg("inst", ""))
		d.printf("%s", ddErr(d.c.Heartbeat(req).ErrorCode))
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version, req.Group = 3, g
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID, lm.InstanceID = m, strPtr(c.Arg("inst", ""))
		req.Members = append(req.Members, lm)
		r := d.c.LeaveGroup(req)
		code := r.ErrorCode
		if code == 0 && len(r.Members) > 0 {
			code = r.Members[0].ErrorCode
		}
		d.printf("%s", ddErr(code))
	case "commit":
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = int16(ddNum(c, "v", 8)), g, m, int32(ddNum(c, "gen", -1))
		for _, o := range offsets(c.Arg("offsets", "")) {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = o.t
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = o.p, o.o
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		name, say := d.async("commit")
		d.c.OffsetCommit(req, func(r *kmsg.OffsetCommitResponse) {
			var es []string
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					es = append(es, fmt.Sprintf("%s/%d=%s", t.Topic, p.Partition, ddErr(p.ErrorCode)))
				}
			}
			say(strings.Join(es, " "))
		})
		d.pending(name)
	case "txn-commit":
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.Group, req.MemberID, req.Generation = 3, g, m, int32(ddNum(c, "gen", -1))
		req.ProducerID, req.ProducerEpoch = ddNum(c, "pid", 1), int16(ddNum(c, "epoch", 0))
		for _, o := range offsets(c.Arg("offsets", "")) {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = o.t
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = o.p, o.o
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		name, say := d.async("txn-commit")
		d.c.TxnOffsetCommit(req, func(r *kmsg.TxnOffsetCommitResponse) {
			var es []string
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					es = append(es, fmt.Sprintf("%s/%d=%s", t.Topic, p.Partition, ddErr(p.ErrorCode)))
				}
			}
			say(strings.Join(es, " "))
		})
		d.pending(name)
	case "end-txn":
		commit := c.Arg("commit", "true") == "true"
		part := PartitionFor(g, d.c.Partitions())
		d.log = append(d.log, ddRecord{pid: ddNum(c, "pid", 1), part: part, Record: Record{Key: []byte{marker(commit)}}})
		d.c.EndTxn(ddNum(c, "pid", 1), part, commit)
	case "fetch":
		ts, err := d.c.FetchOffsets(g, nil)
		if err != nil {
			d.printf("%s", err.Message)
			break
		}
		var os []string
		for _, t := range ts {
			for _, p := range t.Partitions {
				os = append(os, fmt.Sprintf("%s/%d=%d", t.Topic, p.Partition, p.Offset))
			}
		}
		d.printf("offsets: [%s]", strings.Join(os, " "))
	case "describe":
		x, _ := d.c.DescribeGroup(g)
		var ms []string
		for _, mm := range x.Members {
			s := mm.MemberID
			if len(mm.MemberAssignment) > 0 {
				s += "=" + string(mm.MemberAssignment)
			}
			ms = append(ms, s)
		}
		d.printf("%s type=%s proto=%s members=[%s]", x.State, x.ProtocolType, x.Protocol, strings.Join(ms, " "))
	case "delete":
		name, say := d.async("delete")
		d.c.DeleteGroup(g, func(err *kerr.Error) {
			if err != nil {
				say(err.Message)
				return
			}
			say("ok")
		})
		d.pending(name)
	case "delete-offsets":
		var topics []kmsg.OffsetDeleteRequestTopic
		for _, o := range offsets(c.Arg("parts", "")) {
			topics = append(topics, kmsg.OffsetDeleteRequestTopic{Topic: o.t, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: o.p}}})
		}
		name, say := d.async("delete-offsets")
		d.c.DeleteOffsets(g, topics, func(err *kerr.Error, ts []kmsg.OffsetDeleteResponseTopic) {
			if err != nil {
				say(err.Message)
				return
			}
			var es []string
			for _, t := range ts {
				for _, p := range t.Partitions {
					es = append(es, fmt.Sprintf("%s/%d=%s", t.Topic, p.Partition, ddErr(p.ErrorCode)))
				}
			}
			say(strings.Join(es, " "))
		})
		d.pending(name)
	case "cg-heartbeat":
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = g, m, int32(ddNum(c, "epoch", 0))
		req.InstanceID = strPtr(c.Arg("inst", ""))
		req.RebalanceTimeoutMillis = 30000
		if ts := c.Arg("topics", ""); ts != "" {
			req.SubscribedTopicNames = strings.Split(ts, ",")
		}
		if req.MemberEpoch == 0 {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		}
		if c.Has("owned") {
			// owned=t:0.1;u:0 — the partitions the member owns (acknowledging its assignment).
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			for _, f := range strings.Split(c.Arg("owned", ""), ";") {
				if f == "" {
					continue
				}
				name, ps, _ := strings.Cut(f, ":")
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID = [16]byte{map[string]byte{"t": 1, "u": 2}[name]}
				for _, p := range strings.Split(ps, ".") {
					n, _ := strconv.Atoi(p)
					rt.Partitions = append(rt.Partitions, int32(n))
				}
				req.Topics = append(req.Topics, rt)
			}
		}
		req.ServerAssignor = strPtr(c.Arg("assignor", ""))
		r := d.c.ConsumerGroupHeartbeat(req, "c", "/127.0.0.1")
		if r.ErrorCode != 0 {
			d.printf("%s", ddErr(r.ErrorCode))
			break
		}
		var as []string
		if r.Assignment != nil {
			for _, t := range r.Assignment.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				as = append(as, fmt.Sprintf("%x:%v", t.TopicID[0], ps))
			}
		}
		d.printf("member=%s epoch=%d assignment=[%s]", deref(r.MemberID), r.MemberEpoch, strings.Join(as, " "))
	case "tick":
		d.now = d.now.Add(ddDur(c, "d", "0s"))
		d.printf("next +%s", d.c.Tick(d.now).Sub(d.now))
	case "hold":
		d.hold = true
	case "auto":
		d.hold = false
	case "apply":
		i := slices.IndexFunc(d.held, func(w *Write) bool { return w.Group == g })
		if i < 0 {
			return "no write held for " + g
		}
		w := d.held[i]
		d.held = slices.Delete(d.held, i, i+1)
		var err error
		if c.Has("err") {
			err = errors.New("disk full")
		} else {
			d.logWrite(w)
		}
		d.printf("applied %s", g)
		d.c.Applied(w, err)
	case "restart":
		d.c.Close()
		d.c = d.newCoordinator()
		for _, r := range d.log {
			switch {
			case r.pid >= 0 && len(r.Key) == 1:
				d.c.ReplayMarker(r.pid, r.part, r.Key[0] == 1)
			case r.pid >= 0:
				if err := d.c.ReplayTxnOffset(r.pid, r.Key, r.Value); err != nil {
					d.printf("replay: %v", err)
				}
			default:
				if err := d.c.Replay(r.Key, r.Value); err != nil {
					d.printf("replay: %v", err)
				}
			}
		}
		d.c.Loaded()
		d.printf("replayed %d records", len(d.log))
		d.printf("next +%s", d.c.Tick(d.now).Sub(d.now))
	default:
		return "unknown command " + c.Cmd
	}
	return strings.Join(d.out, "\n")
}

func marker(commit bool) byte {
	if commit {
		return 1
	}
	return 0
}

// pending notes an asynchronous request that has not been answered yet.
func (d *groupDD) pending(name string) {
	for _, l := range d.out {
		if strings.HasPrefix(l, name+":") {
			return
		}
	}
	d.printf("%s: waiting", name)
}
