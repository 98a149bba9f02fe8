package embed_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/embed"
)

func TestForTest(t *testing.T) {
	addr := embed.ForTest(t, embed.WithConfig("num.partitions", "2"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("t"),
		kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Fatalf("consumed %v, errors %v", recs, fs.Errors())
	}
}

func TestRestartOnSameDir(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := embed.Start(ctx, embed.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("keep"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	b2, err := embed.Start(ctx, embed.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Stop()
	cl2, _ := kgo.NewClient(kgo.SeedBrokers(b2.Addr()), kgo.ConsumeTopics("keep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl2.Close()
	if recs := cl2.PollFetches(ctx).Records(); len(recs) != 1 || string(recs[0].Value) != "kept" {
		t.Fatalf("after restart: %v", recs)
	}
}
