package broker

import (
	"context"
	"crypto/rand"
	"crypto/x509/pkix"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduce1KiB compares produce throughput of 1 KiB records over
// PLAINTEXT and TLS (the issue's target: TLS at least 60% of plaintext).
//
//	go test ./internal/broker -run '^$' -bench Produce1KiB -benchtime 100000x
func BenchmarkProduce1KiB(b *testing.B) {
	pki := newTestPKI(b)
	cert, key, _ := pki.issue(b, "server", pkix.Name{CommonName: "broker"}, true)
	tb, _ := startSecure(b, Config{
		Listeners: []Listener{
			{Name: "PLAINTEXT", Protocol: ProtocolPlaintext, Addr: "127.0.0.1:0"},
			{Name: "SSL", Protocol: ProtocolSSL, Addr: "127.0.0.1:0"},
		},
		TLSCertFile: cert, TLSKeyFile: key,
	})
	for _, c := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"PLAINTEXT", []kgo.Opt{kgo.SeedBrokers(listenerAddr(tb, "PLAINTEXT"))}},
		{"TLS", []kgo.Opt{kgo.SeedBrokers(listenerAddr(tb, "SSL")), kgo.DialTLSConfig(pki.clientTLS())}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cl, err := kgo.NewClient(append(c.opts, kgo.DefaultProduceTopic("bench-"+c.name), kgo.AllowAutoTopicCreation(),
				kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<16),
				kgo.ProducerBatchCompression(kgo.NoCompression()))...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 1024)
			rand.Read(value) // incompressible, not that it is compressed
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			var failed error
			for range b.N {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						failed = err
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if failed != nil {
				b.Fatal(failed)
			}
		})
	}
}
