package compat

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama drives the broker with IBM's sarama: admin, a synchronous
// idempotent producer (acks=all) and a partition consumer.
func TestSarama(t *testing.T) {
	s := startServer(t, "")
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Compression = sarama.CompressionZSTD

	admin, err := sarama.NewClusterAdmin([]string{s.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic("sarama", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("sarama", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err == nil {
		t.Fatal("creating an existing topic succeeded")
	}

	prod, err := sarama.NewSyncProducer([]string{s.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	type at struct {
		p int32
		o int64
	}
	acked := map[at]string{}
	for i := range 100 {
		p, o, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Key: sarama.StringEncoder(fmt.Sprint("k", i)),
			Value: sarama.StringEncoder(fmt.Sprint("v", i)), Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("x")}}})
		if err != nil {
			t.Fatal(err)
		}
		acked[at{p, o}] = fmt.Sprint("v", i)
	}

	cons, err := sarama.NewConsumer([]string{s.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for _, p := range []int32{0, 1} {
		want := 0
		for k := range acked {
			if k.p == p {
				want++
			}
		}
		pc, err := cons.ConsumePartition("sarama", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for range want {
			select {
			case m := <-pc.Messages():
				if acked[at{m.Partition, m.Offset}] != string(m.Value) || len(m.Headers) != 1 {
					t.Fatalf("consumed %s at %d/%d, acknowledged %q there", m.Value, m.Partition, m.Offset, acked[at{m.Partition, m.Offset}])
				}
				got++
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-time.After(20 * time.Second):
				t.Fatalf("partition %d: consumed %d records in all, %d acknowledged", p, got, len(acked))
			}
		}
		pc.Close()
	}
	if got != len(acked) {
		t.Fatalf("consumed %d records, acknowledged %d", got, len(acked))
	}
}
