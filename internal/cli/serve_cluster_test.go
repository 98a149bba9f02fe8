package cli

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/broker"
)

func TestServeClusterFlags(t *testing.T) {
	env := []string{"SLUICE_ETCD_PASSWORD=secret", "SLUICE_OBJECT_STORE=s3://bkt/pfx?endpoint=http://127.0.0.1:9000&path_style=true"}
	s, err := loadServeConfig([]string{"--etcd", "http://a:2379, http://b:2379", "--etcd-user", "root",
		"--set", "cluster.flush.interval.ms=5", "--set", "cluster.lease.ttl.ms=3000", "--set", "cluster.cache.disk.bytes=1000"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cc := s.cfg.Cluster
	if len(cc.Etcd) != 2 || cc.Etcd[1] != "http://b:2379" || cc.EtcdUser != "root" || cc.EtcdPassword != "secret" ||
		!strings.HasPrefix(cc.ObjectStore, "s3://bkt/") || cc.FlushInterval != 5*time.Millisecond ||
		cc.LeaseTTL != 3*time.Second || cc.CacheDiskBytes != 1000 {
		t.Fatalf("cluster config %+v", cc)
	}
	if _, ok := s.cfg.Kafka["cluster.flush.interval.ms"]; ok {
		t.Fatal("cluster.* keys must not reach the Kafka broker configs")
	}
	if _, err := loadServeConfig([]string{"--etcd", "http://a:2379"}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "both --etcd and --object-store") {
		t.Fatalf("etcd without object store: %v", err)
	}
	if _, err := loadServeConfig([]string{"--etcd", "http://a:2379", "--object-store", "s3://b", "--set", "cluster.lease.ttl.ms=x"}, nil, io.Discard); err == nil {
		t.Fatal("bad cluster.lease.ttl.ms accepted")
	}
}

func TestServeClusterRefusesWhatIsNotBuilt(t *testing.T) {
	base := []string{"--etcd", "http://127.0.0.1:1", "--object-store", "s3://b", "--http-listen", "", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}
	for name, extra := range map[string][]string{
		"registry": nil, // the registry listener is on by default
	} {
		s, err := loadServeConfig(append(append([]string{}, base...), extra...), nil, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = broker.New(s.cfg)
		if !errors.Is(err, broker.ErrInvalidConfig) || !strings.Contains(err.Error(), "cluster mode does not support") {
			t.Fatalf("%s: New: %v, want a refusal", name, err)
		}
	}
}
