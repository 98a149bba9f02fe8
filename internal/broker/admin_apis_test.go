package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

// denyOps denies the listed operations on the cluster and on topics whose
// name is in hidden; everything else is allowed.
type denyOps struct {
	cluster []auth.Operation
	hidden  map[string]bool
}

func (d denyOps) Authorize(_ auth.Subject, op auth.Operation, res auth.Resource) bool {
	if res.Type == auth.ResourceTopic && d.hidden[res.Name] {
		return false
	}
	if res.Type == auth.ResourceCluster {
		for _, o := range d.cluster {
			if o == op {
				return false
			}
		}
	}
	return true
}

func TestElectLeaders(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "el", 2, nil)
	createTopic(t, cl, "el2", 1, nil)

	for _, how := range []kadm.ElectLeadersHow{kadm.ElectPreferredReplica, kadm.ElectLiveReplica} {
		res, err := adm.ElectLeaders(ctxT(t), how, kadm.TopicsSet{"el": {0: {}, 1: {}, 5: {}}, "nope": {0: {}}})
		if err != nil {
			t.Fatalf("%v: %v", how, err)
		}
		for _, p := range []int32{0, 1} {
			if r := res["el"][p]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Errorf("%v el-%d: %+v", how, p, r)
			}
		}
		if r := res["el"][5]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("%v el-5: %+v", how, r)
		}
		if r := res["nope"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("%v nope-0: %+v", how, r)
		}
	}

	// All partitions: those needing no election are left out.
	req := kmsg.NewPtrElectLeadersRequest()
	req.Topics = nil
	resp := send[*kmsg.ElectLeadersResponse](t, cl, req)
	if resp.ErrorCode != 0 || len(resp.Topics) < 2 {
		t.Fatalf("all: %+v", resp)
	}
	for _, rt := range resp.Topics {
		if len(rt.Partitions) != 0 {
			t.Errorf("all: %s lists %+v", rt.Topic, rt.Partitions)
		}
	}

	req = kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 7
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "el", Partitions: []int32{0}}}
	resp = send[*kmsg.ElectLeadersResponse](t, cl, req)
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("bad election type: %+v", resp)
	}

	denied := startBrokerWith(t, Config{Authorizer: denyOps{cluster: []auth.Operation{auth.OpAlter}}})
	dcl := newClient(t, denied.addr)
	req = kmsg.NewPtrElectLeadersRequest()
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "x", Partitions: []int32{0}}}
	resp = send[*kmsg.ElectLeadersResponse](t, dcl, req)
	if resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || resp.Topics[0].Partitions[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("unauthorized: %+v", resp)
	}
}

func TestPartitionReassignments(t *testing.T) {
	tb := startBroker(t, "", nil)
	cl := newClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "ra", 2, nil)
	node := tb.cfg.NodeID

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("ra", 0, []int32{node})
	req.Assign("ra", 1, []int32{node + 1})
	req.Assign("nope", 0, []int32{node})
	req.CancelAssign("ra", 1)
	res, err := adm.AlterPartitionAssignments(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	// kadm keeps the last operation per partition: ra-1 is the cancel.
	if r := res["ra"][0]; r.Err != nil {
		t.Errorf("ra-0 to this node: %v", r.Err)
	}
	if r := res["ra"][1]; !errors.Is(r.Err, kerr.NoReassignmentInProgress) {
		t.Errorf("ra-1 cancel: %v", r.Err)
	}
	if r := res["nope"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("nope-0: %v", r.Err)
	}

	raw := func(version int16, allowRF bool, replicas []int32) (int16, string) {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.Version, r.AllowReplicationFactorChange = version, allowRF
		r.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: "ra", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0, Replicas: replicas}}}}
		resp := send[*kmsg.AlterPartitionAssignmentsResponse](t, cl, r)
		p := resp.Topics[0].Partitions[0]
		msg := ""
		if p.ErrorMessage != nil {
			msg = *p.ErrorMessage
		}
		return p.ErrorCode, msg
	}
	for _, c := range []struct {
		version  int16
		allowRF  bool
		replicas []int32
		want     *kerr.Error
		msg      string
	}{
		{0, false, []int32{}, kerr.InvalidReplicaAssignment, "empty replica list"},
		{0, false, []int32{node, node}, kerr.InvalidReplicaAssignment, fmt.Sprintf("broker %d more than once", node)},
		{0, false, []int32{node + 7}, kerr.InvalidReplicaAssignment, fmt.Sprintf("broker %d, but no such broker is registered", node+7)},
		{1, false, []int32{node, node + 1}, kerr.InvalidReplicationFactor, "replication factor"},
		{1, true, []int32{node, node + 1}, kerr.InvalidReplicaAssignment, "no such broker"},
		{1, false, []int32{node}, nil, ""},
	} {
		code, msg := raw(c.version, c.allowRF, c.replicas)
		wantCode := int16(0)
		if c.want != nil {
			wantCode = c.want.Code
		}
		if code != wantCode || (c.msg != "" && !strings.Contains(msg, c.msg)) {
			t.Errorf("v%d allowRF=%v %v: %v %q, want %v %q", c.version, c.allowRF, c.replicas, kerr.ErrorForCode(code), msg, c.want, c.msg)
		}
	}

	lres, err := adm.ListPartitionReassignments(ctxT(t), kadm.TopicsSet{"ra": {0: {}, 1: {}}})
	if err != nil || len(lres) != 0 {
		t.Errorf("list named: %v %+v", err, lres)
	}
	lreq := kmsg.NewPtrListPartitionReassignmentsRequest()
	lresp := send[*kmsg.ListPartitionReassignmentsResponse](t, cl, lreq)
	if lresp.ErrorCode != 0 || len(lresp.Topics) != 0 {
		t.Errorf("list all: %+v", lresp)
	}
	// Still one replica, this node.
	md, err := adm.Metadata(ctxT(t), "ra")
	if err != nil || len(md.Topics["ra"].Partitions[0].Replicas) != 1 || md.Topics["ra"].Partitions[0].Replicas[0] != node {
		t.Errorf("metadata after reassignments: %v %+v", err, md.Topics["ra"])
	}

	denied := startBrokerWith(t, Config{Authorizer: denyOps{cluster: []auth.Operation{auth.OpAlter, auth.OpDescribe}}})
	dcl := newClient(t, denied.addr)
	areq := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	if r := send[*kmsg.AlterPartitionAssignmentsResponse](t, dcl, areq); r.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alter unauthorized: %+v", r)
	}
	if r := send[*kmsg.ListPartitionReassignmentsResponse](t, dcl, kmsg.NewPtrListPartitionReassignmentsRequest()); r.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("list unauthorized: %+v", r)
	}
}

func dtp(t *testing.T, tb *testBroker, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
	t.Helper()
	cl := newClient(t, tb.addr)
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = limit
	req.Cursor = cursor
	for _, n := range topics {
		req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
	}
	return send[*kmsg.DescribeTopicPartitionsResponse](t, cl, req)
}

// dtpSummary renders a response as "topic:err:p0,p1;...|cursor".
func dtpSummary(r *kmsg.DescribeTopicPartitionsResponse) string {
	var b strings.Builder
	for _, rt := range r.Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		fmt.Fprintf(&b, "%s:%d:", name, rt.ErrorCode)
		for i, p := range rt.Partitions {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, p.Partition)
		}
		b.WriteByte(';')
	}
	if r.NextCursor != nil {
		fmt.Fprintf(&b, "|%s/%d", r.NextCursor.Topic, r.NextCursor.Partition)
	}
	return b.String()
}

func TestDescribeTopicPartitions(t *testing.T) {
	tb := startBrokerWith(t, Config{Authorizer: denyOps{hidden: map[string]bool{"hidden": true, "__consumer_offsets": true}}})
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "a", 3, nil)
	createTopic(t, cl, "b", 2, nil)
	createTopic(t, cl, "hidden", 1, nil)
	createTopic(t, cl, "c", 1, nil)
	cur := func(topic string, p int32) *kmsg.DescribeTopicPartitionsRequestCursor {
		return &kmsg.DescribeTopicPartitionsRequestCursor{Topic: topic, Partition: p}
	}
	tu, ta, ir := kerr.UnknownTopicOrPartition.Code, kerr.TopicAuthorizationFailed.Code, kerr.InvalidRequest.Code
	for _, c := range []struct {
		limit  int32
		cursor *kmsg.DescribeTopicPartitionsRequestCursor
		topics []string
		want   string
	}{
		// All topics the principal may describe (hidden is left out), in
		// name order, paged by the partition limit.
		{2000, nil, nil, "a:0:0,1,2;b:0:0,1;c:0:0;"},
		{2, nil, nil, "a:0:0,1;|a/2"},
		{2, cur("a", 2), nil, "a:0:2;b:0:0;|b/1"},
		{3, nil, nil, "a:0:0,1,2;|b/0"},
		{0, nil, nil, "a:0:0;|a/1"}, // the limit is at least 1
		{10, cur("b", 1), nil, "b:0:1;c:0:0;"},
		// Named topics: unknown and unauthorized ones are errors, the
		// unauthorized listed last.
		{2000, nil, []string{"c", "hidden", "zz", "a"}, fmt.Sprintf("a:0:0,1,2;c:0:0;zz:%d:;hidden:%d:;", tu, ta)},
		{1, cur("c", 0), []string{"a", "c"}, "c:0:0;"},
		// Invalid cursors.
		{10, cur("b", 0), []string{"a", "c"}, fmt.Sprintf("a:%d:;c:%d:;", ir, ir)},
		{10, cur("a", -1), []string{"a"}, fmt.Sprintf("a:%d:;", ir)},
	} {
		if got := dtpSummary(dtp(t, tb, c.limit, c.cursor, c.topics...)); got != c.want {
			t.Errorf("limit %d cursor %+v topics %v:\n got %s\nwant %s", c.limit, c.cursor, c.topics, got, c.want)
		}
	}
	r := dtp(t, tb, 10, nil, "b")
	rt := r.Topics[0]
	p := rt.Partitions[1]
	node := tb.cfg.NodeID
	if rt.TopicID == ([16]byte{}) || rt.IsInternal || rt.AuthorizedOperations <= 0 ||
		p.LeaderID != node || p.LeaderEpoch != 0 || len(p.Replicas) != 1 || p.Replicas[0] != node ||
		len(p.ISR) != 1 || p.ISR[0] != node || p.EligibleLeaderReplicas == nil || len(p.OfflineReplicas) != 0 {
		t.Errorf("topic b: %+v", rt)
	}
}

// TestNewAdminAPIsAdvertised: the APIs added for Kafka 4 tools are in
// ApiVersions with the versions served.
func TestNewAdminAPIsAdvertised(t *testing.T) {
	tb := startBroker(t, "", nil)
	resp := send[*kmsg.ApiVersionsResponse](t, newClient(t, tb.addr), kmsg.NewPtrApiVersionsRequest())
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for k, v := range map[int16][2]int16{43: {0, 2}, 45: {0, 1}, 46: {0, 0}, 75: {0, 0}} {
		if got[k] != v {
			t.Errorf("%s advertised %v, want %v", kmsg.NameForKey(k), got[k], v)
		}
	}
	// Not advertised, as documented in DESIGN.md.
	for _, k := range []int16{38, 39, 40, 41, 55, 57, 71, 72} {
		if _, ok := got[k]; ok {
			t.Errorf("%s advertised", kmsg.NameForKey(k))
		}
	}
}
