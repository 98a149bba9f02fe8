package broker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/internal/auth"
)

// Most tests here tell clients apart by the loopback address they connect
// from (no SASL set-up needed): hostPrincipals gives each source address a
// principal before asking the ACL authorizer. TestACLWithSASLPrincipals
// uses real SCRAM principals.
type hostPrincipals struct {
	*auth.ACLAuthorizer
	by map[netip.Addr]auth.Principal
}

func (h hostPrincipals) Authorize(s auth.Subject, op auth.Operation, res auth.Resource) bool {
	if p, ok := h.by[s.Host]; ok {
		s.Principal = p
	}
	return h.ACLAuthorizer.Authorize(s, op, res)
}

func (h hostPrincipals) AuthorizeAny(s auth.Subject, op auth.Operation, rt auth.ResourceType) bool {
	if p, ok := h.by[s.Host]; ok {
		s.Principal = p
	}
	return h.ACLAuthorizer.AuthorizeAny(s, op, rt)
}

const (
	adminIP = "127.0.0.2" // User:admin, a super user
	aliceIP = "127.0.0.3" // User:alice
	bobIP   = "127.0.0.4" // User:bob
)

// startACLBroker starts a broker with the ACL authorizer persisted in its
// data dir; User:admin is a super user.
func startACLBroker(t *testing.T, dir string, allowEveryone bool) *testBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	a, err := auth.NewACLAuthorizer(auth.ACLConfig{Dir: dir, SuperUsers: []string{"User:admin"}, AllowEveryoneIfNoACLFound: allowEveryone})
	if err != nil {
		t.Fatal(err)
	}
	by := map[netip.Addr]auth.Principal{
		netip.MustParseAddr(adminIP): {Type: "User", Name: "admin"},
		netip.MustParseAddr(aliceIP): {Type: "User", Name: "alice"},
		netip.MustParseAddr(bobIP):   {Type: "User", Name: "bob"},
	}
	return startBrokerWith(t, Config{DataDir: dir, Authorizer: hostPrincipals{a, by}})
}

// clientFrom connects from the loopback address ip.
func clientFrom(t *testing.T, tb *testBroker, ip string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return newClient(t, tb.addr, append([]kgo.Opt{kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		return d.DialContext(ctx, network, host)
	})}, opts...)...)
}

// sendToNode1 sends req to node 1 as is (kgo would split it by partition
// leader and fail unknown topics itself).
func sendToNode1[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Broker(1).Request(ctxT(t), req)
	if err != nil {
		t.Fatalf("%s request: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

func mustCreateACLs(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctxT(t), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("creating %+v: %v %s", r, r.Err, r.ErrMessage)
		}
	}
}

func TestACLAdminAPIs(t *testing.T) {
	tb := startACLBroker(t, "", false)
	adminCl := clientFrom(t, tb, adminIP)
	admin := kadm.NewClient(adminCl)
	alice := kadm.NewClient(clientFrom(t, tb, aliceIP))

	mustCreateACLs(t, admin, kadm.NewACLs().Topics("orders").Allow("User:alice").Operations(kadm.OpRead, kadm.OpWrite))
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Deny("User:bob").Operations(kadm.OpAll))
	mustCreateACLs(t, admin, kadm.NewACLs().Groups("app").Allow("User:*").AllowHosts("10.0.0.1").Operations(kadm.OpRead))
	// Creating an existing ACL succeeds without duplicating it.
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("orders").Allow("User:alice").Operations(kadm.OpRead))

	all := kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Allow().AllowHosts().Deny().DenyHosts().Operations()
	desc, err := admin.DescribeACLs(ctxT(t), all)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range desc {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		n += len(d.Described)
	}
	if n != 4 {
		t.Fatalf("described %d ACLs, want 4: %+v", n, desc)
	}

	// MATCH finds the ACLs that apply to a topic name.
	resp := send[*kmsg.DescribeACLsResponse](t, adminCl, &kmsg.DescribeACLsRequest{
		ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: kmsg.StringPtr("logs-app"), ResourcePatternType: kmsg.ACLResourcePatternTypeMatch,
		Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny})
	if resp.ErrorCode != 0 || len(resp.Resources) != 1 || resp.Resources[0].ResourceName != "logs-" ||
		resp.Resources[0].ResourcePatternType != kmsg.ACLResourcePatternTypePrefixed {
		t.Fatalf("MATCH describe: %+v", resp)
	}
	// A filter with UNKNOWN elements is INVALID_REQUEST.
	resp = send[*kmsg.DescribeACLsResponse](t, adminCl, &kmsg.DescribeACLsRequest{
		ResourceType: kmsg.ACLResourceTypeUnknown, ResourcePatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny})
	if resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("UNKNOWN filter: %v", kerr.ErrorForCode(resp.ErrorCode))
	}

	// Invalid creations are INVALID_REQUEST, one by one.
	cr := send[*kmsg.CreateACLsResponse](t, adminCl, &kmsg.CreateACLsRequest{Creations: []kmsg.CreateACLsRequestCreation{
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "x", ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "alice", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeAny, ResourceName: "x", ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "x", ResourcePatternType: kmsg.ACLResourcePatternTypeMatch, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: "other", ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationAlter, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "ok", ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
	}})
	for i, want := range []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, 0} {
		if cr.Results[i].ErrorCode != want {
			t.Errorf("creation %d: %v, want %v", i, kerr.ErrorForCode(cr.Results[i].ErrorCode), kerr.ErrorForCode(want))
		}
	}

	// Alice lacks ALTER and DESCRIBE on the cluster.
	res, err := alice.CreateACLs(ctxT(t), kadm.NewACLs().Topics("t").Allow("User:alice").Operations(kadm.OpRead))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice create: %v %+v", err, res)
	}
	if d, err := alice.DescribeACLs(ctxT(t), all); err != nil || !errors.Is(d[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describe: %v %+v", err, d)
	}
	dres, err := alice.DeleteACLs(ctxT(t), all)
	if err != nil || len(dres) == 0 || !errors.Is(dres[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice delete: %v %+v", err, dres)
	}

	// Delete with a filter; the deleted ACLs are reported.
	dres, err = admin.DeleteACLs(ctxT(t), kadm.NewACLs().Topics("orders").Allow("User:alice").AllowHosts().Operations())
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, r := range dres {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		deleted += len(r.Deleted)
	}
	if deleted != 2 {
		t.Fatalf("deleted %d, want 2: %+v", deleted, dres)
	}

	// Restart: the ACLs left are still there.
	tb.stop(t)
	tb2 := startACLBroker(t, tb.dir, false)
	desc, err = kadm.NewClient(clientFrom(t, tb2, adminIP)).DescribeACLs(ctxT(t), all)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range desc {
		for _, a := range d.Described {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"app", "logs-", "ok"}) {
		t.Fatalf("after restart: %v", names)
	}
	tb2.stop(t)

	// A corrupt ACL file stops start-up.
	path := filepath.Join(tb.dir, "acls.json")
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o600)
	if _, err := New(Config{DataDir: tb.dir, Listen: "127.0.0.1:0", Logger: testLogger(), Kafka: map[string]string{"super.users": "User:admin"}}); !errors.Is(err, auth.ErrCorruptACLs) {
		t.Fatalf("corrupt acls.json: err = %v", err)
	}
}

func TestACLSecurityDisabled(t *testing.T) {
	tb := startBroker(t, "", nil)
	adm := kadm.NewClient(newClient(t, tb.addr))
	if d, err := adm.DescribeACLs(ctxT(t), kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations()); err != nil || !errors.Is(d[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("describe without authorizer: %v %+v", err, d)
	}
	res, err := adm.CreateACLs(ctxT(t), kadm.NewACLs().Topics("t").Allow("User:a").Operations(kadm.OpRead))
	if err != nil || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("create without authorizer: %v %+v", err, res)
	}
}

// TestACLFromConfig: super.users selects the ACL authorizer; the super user
// can do anything, anyone else nothing (allow.everyone.if.no.acl.found is
// false by default).
func TestACLFromConfig(t *testing.T) {
	tb := startBroker(t, "", map[string]string{"super.users": "User:ANONYMOUS"})
	adm := kadm.NewClient(newClient(t, tb.addr))
	mustCreateACLs(t, adm, kadm.NewACLs().Topics("t").Allow("User:x").Operations(kadm.OpRead))
	tb.stop(t)
	tb = startBroker(t, tb.dir, map[string]string{"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer"})
	cl := newClient(t, tb.addr)
	resp := send[*kmsg.CreateTopicsResponse](t, cl, &kmsg.CreateTopicsRequest{Topics: []kmsg.CreateTopicsRequestTopic{{Topic: "t", NumPartitions: 1, ReplicationFactor: 1}}})
	if resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("anonymous create topic: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	if _, err := New(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: testLogger(), Kafka: map[string]string{"authorizer.class.name": "com.example.Nope"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown authorizer class: %v", err)
	}
}

func TestACLEnforcement(t *testing.T) {
	tb := startACLBroker(t, "", false)
	adminCl := clientFrom(t, tb, adminIP)
	admin := kadm.NewClient(adminCl)
	for _, name := range []string{"visible", "hidden", "secret-1"} {
		createTopic(t, adminCl, name, 1, nil)
	}
	if _, err := adminCl.ProduceSync(ctxT(t), &kgo.Record{Topic: "hidden", Value: []byte("classified")}, &kgo.Record{Topic: "secret-1", Value: []byte("classified")}).First(); err != nil {
		t.Fatal(err)
	}
	// Alice may read and write "visible" and anything prefixed "secret-",
	// but a prefixed deny on "secret-" for READ wins; she may describe
	// "secret-1" through the WRITE allow.
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("visible").Allow("User:alice").Operations(kadm.OpRead, kadm.OpWrite))
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("secret-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpRead, kadm.OpWrite))
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("secret-").ResourcePatternType(kadm.ACLPatternPrefixed).Deny("User:alice").Operations(kadm.OpRead))
	mustCreateACLs(t, admin, kadm.NewACLs().Groups("app").Allow("User:alice").Operations(kadm.OpRead))

	alice := clientFrom(t, tb, aliceIP, kgo.DefaultProduceTopic("visible"))
	// Produce v9 and Fetch v12 name topics (v13+ use topic ids).
	aliceByName := clientFrom(t, tb, aliceIP, kgo.MaxVersions(kversion.V2_8_0()))

	// Metadata: the listing holds only what alice may describe; a named
	// hidden topic is TOPIC_AUTHORIZATION_FAILED (an unknown one too).
	md := send[*kmsg.MetadataResponse](t, alice, kmsg.NewPtrMetadataRequest())
	var listed []string
	for _, tp := range md.Topics {
		listed = append(listed, *tp.Topic)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, []string{"secret-1", "visible"}) {
		t.Fatalf("alice lists %v", listed)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{"hidden", "no-such-topic"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		mreq.Topics = append(mreq.Topics, rt)
	}
	md = send[*kmsg.MetadataResponse](t, alice, mreq)
	for _, tp := range md.Topics {
		if tp.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(tp.Partitions) != 0 {
			t.Errorf("metadata %s: %v %v", *tp.Topic, kerr.ErrorForCode(tp.ErrorCode), tp.Partitions)
		}
	}
	// A metadata request by the hidden topic's id does not reveal its name.
	id := md.Topics[0].TopicID
	for _, tp := range send[*kmsg.MetadataResponse](t, adminCl, kmsg.NewPtrMetadataRequest()).Topics {
		if *tp.Topic == "hidden" {
			id = tp.TopicID
		}
	}
	byID := kmsg.NewPtrMetadataRequest()
	byID.Topics = []kmsg.MetadataRequestTopic{{TopicID: id}}
	md = send[*kmsg.MetadataResponse](t, alice, byID)
	if md.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || md.Topics[0].Topic != nil {
		t.Errorf("metadata by id: %v %v", kerr.ErrorForCode(md.Topics[0].ErrorCode), md.Topics[0].Topic)
	}

	// Produce: allowed topic works (idempotent, so InitProducerId passes
	// with WRITE on a topic); hidden and unknown topics are denied.
	if err := alice.ProduceSync(ctxT(t), &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("alice produce to visible: %v", err)
	}
	for _, topic := range []string{"hidden", "no-such-topic"} {
		preq := kmsg.NewPtrProduceRequest()
		preq.Acks, preq.TimeoutMillis = -1, 5000
		preq.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: buildBatch(-1, -1, -1, 0, rawRecord{value: []byte("x")})}}}}
		pr := send[*kmsg.ProduceResponse](t, aliceByName, preq)
		if c := pr.Topics[0].Partitions[0].ErrorCode; c != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("produce to %s: %v", topic, kerr.ErrorForCode(c))
		}
	}

	// Fetch: denied topics return the error and no records.
	for _, topic := range []string{"hidden", "secret-1", "no-such-topic"} {
		freq := kmsg.NewPtrFetchRequest()
		freq.MaxBytes, freq.MaxWaitMillis = 1<<20, 0
		freq.SessionEpoch = -1
		freq.Topics = []kmsg.FetchRequestTopic{{Topic: topic, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LogStartOffset: -1}}}}
		fr := send[*kmsg.FetchResponse](t, aliceByName, freq)
		p := fr.Topics[0].Partitions[0]
		if p.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(p.RecordBatches) != 0 || p.HighWatermark > 0 {
			t.Errorf("fetch %s: %v, %d record bytes, hwm %d", topic, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), p.HighWatermark)
		}
	}

	// ListOffsets and OffsetForLeaderEpoch: DESCRIBE, checked before the
	// topic's existence.
	for _, topic := range []string{"hidden", "no-such-topic"} {
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
		if p := sendToNode1[*kmsg.ListOffsetsResponse](t, aliceByName, lo).Topics[0].Partitions[0]; p.ErrorCode != kerr.TopicAuthorizationFailed.Code || p.Offset != -1 {
			t.Errorf("list offsets %s: %v offset %d", topic, kerr.ErrorForCode(p.ErrorCode), p.Offset)
		}
		oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
		oe.ReplicaID = -1
		oe.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}}}
		if p := sendToNode1[*kmsg.OffsetForLeaderEpochResponse](t, aliceByName, oe).Topics[0].Partitions[0]; p.ErrorCode != kerr.TopicAuthorizationFailed.Code || p.EndOffset != -1 {
			t.Errorf("offset for leader epoch %s: %v end %d", topic, kerr.ErrorForCode(p.ErrorCode), p.EndOffset)
		}
	}

	// Consumer through a group on an allowed topic works end to end.
	consumer := clientFrom(t, tb, aliceIP, kgo.ConsumeTopics("visible"), kgo.ConsumerGroup("app"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := consumer.PollFetches(ctxT(t))
	if err := fs.Err(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("alice consume: %v, %d records", err, fs.NumRecords())
	}
	// A group she may not read is GROUP_AUTHORIZATION_FAILED.
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "other", "consumer", 10000, 10000
	jg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if _, err := alice.Request(ctxT(t), jg); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Errorf("join other group: %v", err)
	}

	// KIP-848 heartbeat: subscribing to a topic she may not describe.
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberEpoch, hb.RebalanceTimeoutMillis = "app", 0, 10000
	hb.SubscribedTopicNames = []string{"visible", "hidden"}
	if r, err := alice.Request(ctxT(t), hb); err != nil || r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("heartbeat subscribing to hidden: %v %+v", err, r)
	}

	// Topic admin: create, delete and alter need CREATE / DELETE / ALTER,
	// and unknown topics do not reveal that they do not exist.
	aadm := kadm.NewClient(alice)
	if r, _ := aadm.CreateTopic(ctxT(t), 1, 1, nil, "new-topic"); !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice create topic: %v", r.Err)
	}
	dr, _ := aadm.DeleteTopics(ctxT(t), "hidden", "no-such-topic")
	for _, r := range dr {
		if !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice delete %s: %v", r.Topic, r.Err)
		}
	}
	cp, _ := aadm.CreatePartitions(ctxT(t), 2, "visible", "no-such-topic")
	for _, r := range cp {
		if !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
			t.Errorf("alice create partitions %s: %v", r.Topic, r.Err)
		}
	}
	rc, err := aadm.DescribeTopicConfigs(ctxT(t), "visible")
	if err == nil && (len(rc) != 1 || !errors.Is(rc[0].Err, kerr.TopicAuthorizationFailed)) {
		t.Errorf("alice describe configs: %+v", rc)
	}

	// Bob has no ACL at all: InitProducerId (idempotent) is
	// CLUSTER_AUTHORIZATION_FAILED.
	bob := clientFrom(t, tb, bobIP)
	ip := send[*kmsg.InitProducerIDResponse](t, bob, kmsg.NewPtrInitProducerIDRequest())
	if ip.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("bob InitProducerId: %v", kerr.ErrorForCode(ip.ErrorCode))
	}
	ipt := kmsg.NewPtrInitProducerIDRequest()
	ipt.TransactionalID = kmsg.StringPtr("tx")
	// (kgo finds the coordinator first: DESCRIBE on the transactional id.)
	if _, err := bob.Request(ctxT(t), ipt); !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Errorf("bob transactional InitProducerId: %v", err)
	}
}

// TestACLRevokedWhileConnected: deleting an ACL takes effect on the next
// request of a client that is already connected.
func TestACLRevokedWhileConnected(t *testing.T) {
	tb := startACLBroker(t, "", false)
	adminCl := clientFrom(t, tb, adminIP)
	admin := kadm.NewClient(adminCl)
	createTopic(t, adminCl, "t", 1, nil)
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("t").Allow("User:alice").Operations(kadm.OpWrite, kadm.OpRead))
	alice := clientFrom(t, tb, aliceIP, kgo.MaxVersions(kversion.V2_8_0()))
	produce := func() int16 {
		preq := kmsg.NewPtrProduceRequest()
		preq.Acks, preq.TimeoutMillis = -1, 5000
		preq.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: buildBatch(-1, -1, -1, 0, rawRecord{value: []byte("x")})}}}}
		return send[*kmsg.ProduceResponse](t, alice, preq).Topics[0].Partitions[0].ErrorCode
	}
	if c := produce(); c != 0 {
		t.Fatalf("before revoke: %v", kerr.ErrorForCode(c))
	}
	if _, err := admin.DeleteACLs(ctxT(t), kadm.NewACLs().Topics("t").Allow("User:alice").AllowHosts().Operations(kadm.OpWrite)); err != nil {
		t.Fatal(err)
	}
	if c := produce(); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("after revoke: %v", kerr.ErrorForCode(c))
	}
	// READ is still granted (it implies DESCRIBE): the topic stays listed.
	md := send[*kmsg.MetadataResponse](t, alice, kmsg.NewPtrMetadataRequest())
	if len(md.Topics) != 1 {
		t.Fatalf("metadata after revoking WRITE: %d topics", len(md.Topics))
	}
}

// TestACLWithSASLPrincipals: principals authenticated with SCRAM are what
// the ACLs match. User:ANONYMOUS (the PLAINTEXT listener) is the super
// user that stores credentials and ACLs; alice may write "granted" only,
// bob nothing.
func TestACLWithSASLPrincipals(t *testing.T) {
	tb := startBrokerWith(t, Config{
		Listeners: []Listener{
			{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
			{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
		},
		Kafka: map[string]string{"super.users": "User:ANONYMOUS", "sasl.enabled.mechanisms": "SCRAM-SHA-256"},
	})
	adminCl := newClient(t, tb.ListenerAddr("PLAINTEXT").String())
	admin := kadm.NewClient(adminCl)
	for _, u := range []string{"alice", "bob"} {
		res, err := admin.AlterUserSCRAMs(ctxT(t), nil, []kadm.UpsertSCRAM{{User: u, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: u + "-pw"}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	createTopic(t, adminCl, "granted", 1, nil)
	createTopic(t, adminCl, "other", 1, nil)
	mustCreateACLs(t, admin, kadm.NewACLs().Topics("granted").Allow("User:alice").Operations(kadm.OpWrite))

	saslAddr := tb.ListenerAddr("SASL").String()
	user := func(name string) *kgo.Client {
		return newClient(t, saslAddr, kgo.SASL(scram.Auth{User: name, Pass: name + "-pw"}.AsSha256Mechanism()),
			kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	}
	alice, bob := user("alice"), user("bob")
	if err := alice.ProduceSync(ctxT(t), &kgo.Record{Topic: "granted", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("alice produce to granted: %v", err)
	}
	if err := alice.ProduceSync(ctxT(t), &kgo.Record{Topic: "other", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produce to other: %v", err)
	}
	md := send[*kmsg.MetadataResponse](t, bob, kmsg.NewPtrMetadataRequest())
	if len(md.Topics) != 0 {
		t.Fatalf("bob sees %d topics", len(md.Topics))
	}
	md = send[*kmsg.MetadataResponse](t, alice, kmsg.NewPtrMetadataRequest())
	if len(md.Topics) != 1 || *md.Topics[0].Topic != "granted" {
		t.Fatalf("alice sees %v", md.Topics)
	}
}
