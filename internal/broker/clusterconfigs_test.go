package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster/etcdtest"
)

// TestClusterTopicConfigs: in cluster mode topic configs altered at one
// broker are stored in etcd, described by every broker, and applied to
// the led partition (a lowered retention.ms moves its log start past old
// records); broker configs cannot be altered (INVALID_REQUEST).
func TestClusterTopicConfigs(t *testing.T) {
	e := etcdtest.Start(t, 1024)
	s3 := fakeS3(t)
	b1 := startClusterBrokerOn(t, e, 1, s3)
	b2 := startClusterBrokerOn(t, e, 2, s3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm1 := kadm.NewClient(mustClient(t, b1, kgo.MetadataMinAge(10*time.Millisecond)))
	adm2 := kadm.NewClient(mustClient(t, b2, kgo.MetadataMinAge(10*time.Millisecond)))
	if r, err := adm1.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")}, "cfg"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	describe := func(adm *kadm.Client, name string) (string, kmsg.ConfigSource, error) {
		rc, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			return "", 0, err
		}
		c, err := rc.On("cfg", nil)
		if err != nil {
			return "", 0, err
		}
		if c.Err != nil {
			return "", 0, c.Err
		}
		for _, kv := range c.Configs {
			if kv.Key == name {
				return kv.MaybeValue(), kv.Source, nil
			}
		}
		return "", 0, fmt.Errorf("no %s", name)
	}
	clusterEventually(t, "broker 2 describes the topic's configs", func() error {
		if v, src, err := describe(adm2, "segment.bytes"); err != nil || v != "1048576" || src != kmsg.ConfigSourceDynamicTopicConfig {
			return fmt.Errorf("segment.bytes: %q %v %v", v, src, err)
		}
		return nil
	})
	clusterEventually(t, "broker 1 describes the default retention.ms", func() error {
		if v, src, err := describe(adm1, "retention.ms"); err != nil || v != "604800000" || src != kmsg.ConfigSourceDefaultConfig {
			return fmt.Errorf("retention.ms: %q %v %v", v, src, err)
		}
		return nil
	})

	// Old records, then a retention.ms that makes them expire.
	prod := mustClient(t, b2, kgo.DisableIdempotentWrite(), kgo.MetadataMinAge(10*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	old := time.Now().Add(-2 * time.Hour)
	for i := range 6 {
		r := &kgo.Record{Topic: "cfg", Partition: int32(i % 2), Value: []byte("old"), Timestamp: old}
		var err error
		for range 100 { // until the new partitions are led
			if err = prod.ProduceSync(ctx, r).FirstErr(); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rs, err := adm2.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("3600000")}}, "cfg")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter: %v %v", err, rs)
	}
	if v, src, err := describe(adm2, "retention.ms"); err != nil || v != "3600000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms at broker 2 after its alter: %q %v %v", v, src, err)
	}
	clusterEventually(t, "broker 1 describes the new retention.ms", func() error {
		if v, _, err := describe(adm1, "retention.ms"); err != nil || v != "3600000" {
			return fmt.Errorf("%q %v", v, err)
		}
		return nil
	})
	clusterEventually(t, "retention applies the new retention.ms on both partitions", func() error {
		starts, err := adm1.ListStartOffsets(ctx, "cfg")
		if err != nil {
			return err
		}
		for p := range int32(2) {
			if o, _ := starts.Lookup("cfg", p); o.Err != nil || o.Offset != 3 {
				return fmt.Errorf("partition %d starts at %d (%v)", p, o.Offset, o.Err)
			}
		}
		return nil
	})
	// Incremental alters of different configs at both brokers at once,
	// and back to back: each is applied to what etcd holds, so none is
	// lost to the other broker's older copy.
	alter := func(adm *kadm.Client, name, value string) error {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: kadm.StringPtr(value)}}, "cfg")
		if err == nil {
			err = rs[0].Err
		}
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- alter(adm1, "max.message.bytes", "500000") }()
	go func() { errs <- alter(adm2, "segment.ms", "3600000") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := alter(adm1, "flush.messages", "7"); err != nil {
		t.Fatal(err)
	}
	if err := alter(adm2, "min.insync.replicas", "1"); err != nil {
		t.Fatal(err)
	}
	clusterEventually(t, "every altered config kept", func() error {
		for name, want := range map[string]string{"max.message.bytes": "500000", "segment.ms": "3600000", "flush.messages": "7",
			"min.insync.replicas": "1", "retention.ms": "3600000", "segment.bytes": "1048576"} {
			for _, adm := range []*kadm.Client{adm1, adm2} {
				if v, _, err := describe(adm, name); err != nil || v != want {
					return fmt.Errorf("%s: %q (%v), want %q", name, v, err, want)
				}
			}
		}
		return nil
	})
	if rs, err := adm1.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("x")}}, "cfg"); err != nil || rs[0].Err != kerr.InvalidConfig {
		t.Fatalf("invalid value: %v %v, want INVALID_CONFIG", err, rs)
	}
	if rs, err := adm1.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("1000")}}, 1); err != nil || rs[0].Err != kerr.InvalidRequest {
		t.Fatalf("broker alter in cluster mode: %v %v, want INVALID_REQUEST", err, rs)
	}
}
