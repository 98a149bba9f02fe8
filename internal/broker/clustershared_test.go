package broker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
	"github.com/sluice-io/sluice/internal/meta"
)

// startClusterSASL runs a cluster-mode broker whose one listener is
// SASL_PLAINTEXT (SCRAM and PLAIN), with the ACL authorizer and User:admin
// as super user; stop closes it (and is a test cleanup too).
func startClusterSASL(t *testing.T, e *etcdtest.Server, node int32, s3, dataDir string) (b *Broker, stop func()) {
	t.Helper()
	b, err := New(Config{DataDir: dataDir, NodeID: node, Logger: testLogger().With("node", node),
		Listeners: []Listener{{Name: "SASL", Protocol: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}},
		Kafka: map[string]string{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", "super.users": "User:admin",
			"authorizer.class.name": "acl", "quota.window.num": "2", "quota.window.size.seconds": "1"},
		Cluster: ClusterConfig{Etcd: []string{e.Endpoint}, ObjectStore: "s3://bkt/pfx?endpoint=" + url.QueryEscape(s3) + "&region=us-east-1&path_style=true",
			ID: "test", LeaseTTL: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); b.Serve(context.Background()) }()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			b.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return b, stop
}

// scramClient is a client of addr authenticated as user with SCRAM-SHA-256.
func scramClient(t *testing.T, addr, user, pass string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()),
		kgo.RetryTimeout(5*time.Second), kgo.RequestRetries(2), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// bootstrapAdmin stores User:admin's SCRAM-SHA-256 credential through
// b's store (as `kafka-storage format --add-scram` does for Kafka): it
// goes to etcd like any change.
func bootstrapAdmin(t *testing.T, b *Broker) {
	t.Helper()
	m := auth.ScramSHA256
	salt := []byte("admin-salt-admin")
	sp, err := m.SaltedPassword("admin-secret", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cr := m.Credential(salt, sp, 4096)
	if _, err := b.creds.Alter([]meta.CredentialChange{{User: "admin", Mechanism: m.Name,
		Cred: meta.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}}}); err != nil {
		t.Fatal(err)
	}
}

// authOK tries a metadata request at addr as user.
func authOK(t *testing.T, addr, user, pass string) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()),
		kgo.RetryTimeout(time.Second), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

// describeTopicAt asks broker node (through cl) for topic's metadata and
// returns the topic's error code.
func describeTopicAt(ctx context.Context, cl *kgo.Client, node int32, topic string) (int16, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(int(node)).Request(ctx, req)
	if err != nil {
		return 0, err
	}
	mr := resp.(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 {
		return 0, fmt.Errorf("%d topics in the answer", len(mr.Topics))
	}
	return mr.Topics[0].ErrorCode, nil
}

// brokersListed checks that the broker at addr lists n brokers, with a
// new client each time (a client caches metadata: a broker that answered
// before it registered would be missing from it for minutes).
func brokersListed(ctx context.Context, addr string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism()))
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err == nil && len(m.Brokers) != n {
		err = fmt.Errorf("brokers %v", m.Brokers)
	}
	return err
}

func TestClusterSharedSCRAMACLsQuotas(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	a, _ := startClusterSASL(t, e, 1, s3, t.TempDir())
	dirB := t.TempDir()
	b, stopB := startClusterSASL(t, e, 2, s3, dirB)
	bootstrapAdmin(t, a)
	ctx := ctxT(t)

	// The admin's credential, stored through A, authenticates at B.
	clusterEventually(t, "admin authenticates at B", func() error { return authOK(t, b.Addr().String(), "admin", "admin-secret") })
	admin := scramClient(t, a.Addr().String(), "admin", "admin-secret")
	clusterEventually(t, "both brokers in metadata", func() error { return brokersListed(ctx, a.Addr().String(), 2) })
	if r, err := kadm.NewClient(admin).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}

	// A SCRAM user created through broker A authenticates at broker B.
	up := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	{
		m := auth.ScramSHA256
		salt := []byte("alice-salt-alice")
		sp, _ := m.SaltedPassword("alice-secret", salt, 4096)
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = "alice", 1, 4096, salt, sp
		up.Upsertions = append(up.Upsertions, u)
	}
	resp, err := admin.Broker(1).Request(ctx, up)
	if err != nil || resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode != 0 {
		t.Fatalf("creating alice at A: %v %+v", err, resp)
	}
	clusterEventually(t, "alice authenticates at B", func() error { return authOK(t, b.Addr().String(), "alice", "alice-secret") })
	if err := authOK(t, b.Addr().String(), "alice", "wrong"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password at B: %v", err)
	}
	{ // PLAIN checks the password against the same shared credential.
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
		cl.Close()
		if err != nil {
			t.Fatalf("alice with PLAIN at B: %v", err)
		}
	}
	described, err := kadm.NewClient(scramClient(t, b.Addr().String(), "admin", "admin-secret")).DescribeUserSCRAMs(ctx, "alice")
	if err != nil || described["alice"].Err != nil || len(described["alice"].CredInfos) != 1 {
		t.Fatalf("describing alice at B: %v %+v", err, described)
	}

	// An ACL created at A permits at B; before it, B denies.
	alice := scramClient(t, b.Addr().String(), "alice", "alice-secret")
	if code, err := describeTopicAt(ctx, alice, 2, "orders"); err != nil || code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("alice describing orders at B before the ACL: code %d %v", code, err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing before the ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	acl := kmsg.NewPtrCreateACLsRequest()
	for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationRead} {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", op, kmsg.ACLPermissionTypeAllow
		acl.Creations = append(acl.Creations, c)
	}
	resp, err = admin.Broker(1).Request(ctx, acl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.(*kmsg.CreateACLsResponse).Results {
		if r.ErrorCode != 0 {
			t.Fatalf("creating the ACLs at A: %+v", r)
		}
	}
	clusterEventually(t, "B lets alice describe orders", func() error {
		code, err := describeTopicAt(ctx, alice, 2, "orders")
		if err == nil && code != 0 {
			err = kerr.ErrorForCode(code)
		}
		return err
	})
	clusterEventually(t, "alice produces to orders", func() error {
		return alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
	})
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "other", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing to a topic with no ACL: %v", err)
	}
	// A listing at B leaves out what alice may not describe.
	all, err := alice.Broker(2).Request(ctx, kmsg.NewPtrMetadataRequest()) // Topics nil: all
	if err != nil {
		t.Fatal(err)
	}
	if ts := all.(*kmsg.MetadataResponse).Topics; len(ts) != 1 || *ts[0].Topic != "orders" || ts[0].ErrorCode != 0 {
		t.Fatalf("alice's listing at B: %+v", ts)
	}

	// A quota altered at A is described at B.
	setQuota := func(node int32, user string, rate float64) {
		t.Helper()
		req := kmsg.NewPtrAlterClientQuotasRequest()
		en := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type, ent.Name = "user", kmsg.StringPtr(user)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = "producer_byte_rate", rate
		en.Entity, en.Ops = append(en.Entity, ent), append(en.Ops, op)
		req.Entries = append(req.Entries, en)
		resp, err := admin.Broker(int(node)).Request(ctx, req)
		if err != nil || resp.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode != 0 {
			t.Fatalf("altering quotas at %d: %v %+v", node, err, resp)
		}
	}
	quotaAt := func(cl *kgo.Client, node int32, user string) (float64, error) {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		c := kmsg.NewDescribeClientQuotasRequestComponent()
		c.EntityType, c.MatchType, c.Match = "user", 0, kmsg.StringPtr(user)
		req.Components = append(req.Components, c)
		resp, err := cl.Broker(int(node)).Request(ctx, req)
		if err != nil {
			return 0, err
		}
		dr := resp.(*kmsg.DescribeClientQuotasResponse)
		if dr.ErrorCode != 0 {
			return 0, kerr.ErrorForCode(dr.ErrorCode)
		}
		for _, en := range dr.Entries {
			for _, v := range en.Values {
				if v.Key == "producer_byte_rate" {
					return v.Value, nil
				}
			}
		}
		return 0, errors.New("no producer_byte_rate")
	}
	setQuota(1, "alice", 1<<20)
	clusterEventually(t, "B describes alice's quota", func() error {
		v, err := quotaAt(admin, 2, "alice")
		if err == nil && v != 1<<20 {
			err = fmt.Errorf("producer_byte_rate %v", v)
		}
		return err
	})

	// Enforced where the traffic is: alice's 300 KiB produce against 100
	// KiB/s, set at A, is throttled by the partition's leader (over any
	// span of the 2 s window).
	setQuota(1, "alice", 100<<10)
	clusterEventually(t, "B describes alice's new quota", func() error {
		v, err := quotaAt(admin, 2, "alice")
		if err == nil && v != 100<<10 {
			err = fmt.Errorf("producer_byte_rate %v", v)
		}
		return err
	})
	hook := &throttleHook{}
	throttled, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()),
		kgo.WithHooks(hook), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer throttled.Close()
	if err := throttled.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: make([]byte, 300<<10)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if hook.get() <= 0 {
		t.Fatal("a produce over alice's quota was not throttled")
	}

	// Changes made while B is down are there when B starts: loaded before
	// it listens, so its first answers have them.
	stopB()
	setQuota(1, "alice", 2<<20)
	{
		m := auth.ScramSHA256
		salt := []byte("carol-salt-carol")
		sp, _ := m.SaltedPassword("carol-secret", salt, 4096)
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = "carol", 1, 4096, salt, sp
		req.Upsertions = append(req.Upsertions, u)
		resp, err := admin.Broker(1).Request(ctx, req)
		if err != nil || resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode != 0 {
			t.Fatalf("creating carol at A: %v %+v", err, resp)
		}
		del := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		del.Filters = append(del.Filters, f)
		resp, err = admin.Broker(1).Request(ctx, del)
		if err != nil || len(resp.(*kmsg.DeleteACLsResponse).Results[0].MatchingACLs) != 3 {
			t.Fatalf("deleting the ACLs at A: %v %+v", err, resp)
		}
	}
	b2, _ := startClusterSASL(t, e, 2, s3, dirB)
	if err := authOK(t, b2.Addr().String(), "carol", "carol-secret"); err != nil {
		t.Fatalf("carol at the restarted B: %v", err)
	}
	admin2 := scramClient(t, b2.Addr().String(), "admin", "admin-secret")
	clusterEventually(t, "B back in metadata", func() error { return brokersListed(ctx, b2.Addr().String(), 2) })
	if v, err := quotaAt(admin2, 2, "alice"); err != nil || v != 2<<20 {
		t.Fatalf("alice's quota at the restarted B: %v %v", v, err)
	}
	alice2 := scramClient(t, b2.Addr().String(), "alice", "alice-secret")
	if code, err := describeTopicAt(ctx, alice2, 2, "orders"); err != nil || code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("alice at the restarted B after the ACLs were deleted: code %d %v", code, err)
	}
}

// TestClusterSharedStoresEtcdDown: with etcd unreachable, a change is a
// retriable error per entry with a message, never a success, and nothing
// changes.
func TestClusterSharedStoresEtcdDown(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	a, _ := startClusterSASL(t, e, 1, s3, t.TempDir())
	bootstrapAdmin(t, a)
	ctx := ctxT(t)
	clusterEventually(t, "the broker registered", func() error { return brokersListed(ctx, a.Addr().String(), 1) })
	admin := scramClient(t, a.Addr().String(), "admin", "admin-secret")
	if _, err := admin.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatal(err)
	}
	e.Stop()

	acl := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:bob", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	acl.Creations = append(acl.Creations, c)
	resp, err := admin.Broker(1).Request(ctx, acl)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.(*kmsg.CreateACLsResponse).Results[0]; r.ErrorCode != kerr.RequestTimedOut.Code || r.ErrorMessage == nil || *r.ErrorMessage == "" {
		t.Fatalf("CreateAcls with etcd down: %+v", r)
	}
	if got := a.cfg.Authorizer.(*auth.ACLAuthorizer).ACLs(); len(got) != 0 {
		t.Fatalf("ACLs after a failed create: %v", got)
	}

	q := kmsg.NewPtrAlterClientQuotasRequest()
	en := kmsg.NewAlterClientQuotasRequestEntry()
	ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ent.Type, ent.Name = "user", kmsg.StringPtr("bob")
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = "consumer_byte_rate", 1000
	en.Entity, en.Ops = append(en.Entity, ent), append(en.Ops, op)
	q.Entries = append(q.Entries, en)
	resp, err = admin.Broker(1).Request(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.(*kmsg.AlterClientQuotasResponse).Entries[0]; r.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("AlterClientQuotas with etcd down: %+v", r)
	}
	if got := a.quotas.Store().Entries(); len(got) != 0 {
		t.Fatalf("quotas after a failed alter: %v", got)
	}

	up := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = "bob", 1, 4096, []byte("salt"), []byte("salted")
	up.Upsertions = append(up.Upsertions, u)
	resp, err = admin.Broker(1).Request(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0]; r.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("AlterUserScramCredentials with etcd down: %+v", r)
	}
	if _, ok := a.creds.Get("bob", "SCRAM-SHA-256"); ok {
		t.Fatal("bob's credential applied although etcd refused it")
	}
}

// TestClusterAuthorizesOwnHandlers: cluster mode's own handlers refuse a
// principal without ACLs as the single-node ones do (clusterauthz.go),
// and serve a super user.
func TestClusterAuthorizesOwnHandlers(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	a, _ := startClusterSASL(t, e, 1, s3, t.TempDir())
	bootstrapAdmin(t, a)
	ctx := ctxT(t)
	clusterEventually(t, "the broker registered", func() error { return brokersListed(ctx, a.Addr().String(), 1) })
	admin := scramClient(t, a.Addr().String(), "admin", "admin-secret")
	adm := kadm.NewClient(admin)
	clusterEventually(t, "creating t", func() error {
		r, err := adm.CreateTopic(ctx, 1, 1, nil, "t")
		if err == nil {
			err = r.Err
		}
		return err
	})
	// The broker learns of t from its etcd watch, after CreateTopics
	// returns (as a Kafka broker from the controller's metadata log).
	clusterEventually(t, "t in the broker's metadata", func() error {
		m, err := adm.Metadata(ctx, "t")
		if err == nil {
			err = m.Topics["t"].Err
		}
		return err
	})
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "mallory", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "m-secret"}}); err != nil {
		t.Fatal(err)
	}
	clusterEventually(t, "mallory authenticates", func() error { return authOK(t, a.Addr().String(), "mallory", "m-secret") })
	mallory := scramClient(t, a.Addr().String(), "mallory", "m-secret")
	send := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := mallory.Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		return resp
	}
	denied := kerr.TopicAuthorizationFailed.Code

	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 10000, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "t"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	if fr := send(fetch).(*kmsg.FetchResponse); len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].ErrorCode != denied {
		t.Fatalf("fetch: %+v", fr.Topics)
	}

	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "t"
	lt.Partitions = append(lt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
	lo.Topics = append(lo.Topics, lt)
	if lr := send(lo).(*kmsg.ListOffsetsResponse); len(lr.Topics) != 1 || lr.Topics[0].Partitions[0].ErrorCode != denied {
		t.Fatalf("list offsets: %+v", lr.Topics)
	}

	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "t"
	ot.Partitions = append(ot.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
	oe.Topics = append(oe.Topics, ot)
	if or := send(oe).(*kmsg.OffsetForLeaderEpochResponse); len(or.Topics) != 1 || or.Topics[0].Partitions[0].ErrorCode != denied {
		t.Fatalf("offset for leader epoch: %+v", or.Topics)
	}

	dr := kmsg.NewPtrDeleteRecordsRequest()
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = "t"
	dt.Partitions = append(dt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
	dr.Topics = append(dr.Topics, dt)
	if rr := send(dr).(*kmsg.DeleteRecordsResponse); len(rr.Topics) != 1 || rr.Topics[0].Partitions[0].ErrorCode != denied {
		t.Fatalf("delete records: %+v", rr.Topics)
	}

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	if cr := send(ct).(*kmsg.CreateTopicsResponse); len(cr.Topics) != 1 || cr.Topics[0].ErrorCode != denied {
		t.Fatalf("create topics: %+v", cr.Topics)
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "t", 3
	cp.Topics = append(cp.Topics, cpt)
	if cr := send(cp).(*kmsg.CreatePartitionsResponse); len(cr.Topics) != 1 || cr.Topics[0].ErrorCode != denied {
		t.Fatalf("create partitions: %+v", cr.Topics)
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	delt := kmsg.NewDeleteTopicsRequestTopic()
	delt.Topic = kmsg.StringPtr("t")
	del.Topics, del.TopicNames = append(del.Topics, delt), []string{"t"}
	if dr := send(del).(*kmsg.DeleteTopicsResponse); len(dr.Topics) != 1 || dr.Topics[0].ErrorCode != denied {
		t.Fatalf("delete topics: %+v", dr.Topics)
	}

	if err := mallory.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce: %v", err)
	}
	tp := kmsg.NewPtrProduceRequest()
	tp.Acks, tp.TimeoutMillis, tp.TransactionID = -1, 5000, kmsg.StringPtr("mallorys-txn")
	tpt := kmsg.NewProduceRequestTopic()
	tpt.Topic = "t"
	tpp := kmsg.NewProduceRequestTopicPartition()
	tpp.Records = []byte("not parsed: refused before")
	tpt.Partitions = append(tpt.Partitions, tpp)
	tp.Topics = append(tp.Topics, tpt)
	if pr := send(tp).(*kmsg.ProduceResponse); len(pr.Topics) != 1 || pr.Topics[0].Partitions[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional produce: %+v", pr.Topics)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if r := send(dc).(*kmsg.DescribeClusterResponse); r.ClusterAuthorizedOperations != 0 {
		t.Fatalf("mallory's cluster operations: %b", r.ClusterAuthorizedOperations)
	}

	// Nothing changed, and the super user is served.
	m, err := adm.Metadata(ctx, "t")
	if err != nil || m.Topics["t"].Err != nil || len(m.Topics["t"].Partitions) != 1 {
		t.Fatalf("t after mallory's requests: %v %+v", err, m.Topics["t"])
	}
	if r, err := adm.CreatePartitions(ctx, 2, "t"); err != nil || r["t"].Err != nil {
		t.Fatalf("the admin's create partitions: %v %+v", err, r)
	}
	clusterEventually(t, "the admin produces", func() error {
		return admin.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr()
	})
}
