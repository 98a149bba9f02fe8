package broker

import (
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaDynamicBrokerConfigsAccepted: dynamic broker configs Kafka
// defines but that do nothing on Sluice are accepted (per-broker ones only
// with the broker id), described with Kafka's defaults, and persisted; the
// configs the broker reads can be set statically.
func TestKafkaDynamicBrokerConfigsAccepted(t *testing.T) {
	dir := t.TempDir()
	static := map[string]string{"connections.max.idle.ms": "123000", "transaction.state.log.num.partitions": "3"}
	tb := startBroker(t, dir, static)
	cl := newClient(t, tb.addr)
	adm := kadm.NewClient(cl)
	node := strconv.Itoa(int(tb.cfg.NodeID))

	if got := tb.brokerInt("transaction.state.log.num.partitions"); got != 3 {
		t.Errorf("transaction.state.log.num.partitions = %d, want the static 3", got)
	}
	if got := tb.brokerInt("connections.max.idle.ms"); got != 123000 {
		t.Errorf("connections.max.idle.ms = %d, want the static 123000", got)
	}

	describe := func() map[string]kadm.Config {
		t.Helper()
		rc, err := adm.DescribeBrokerConfigs(ctxT(t), tb.cfg.NodeID)
		if err != nil || len(rc) != 1 || rc[0].Err != nil {
			t.Fatalf("describe: %v %+v", err, rc)
		}
		out := map[string]kadm.Config{}
		for _, c := range rc[0].Configs {
			out[c.Key] = c
		}
		return out
	}
	d := describe()
	for name, want := range map[string]string{
		"sasl.kerberos.min.time.before.relogin": "60000", "num.io.threads": "8", "background.threads": "10",
		"max.connections": "2147483647", "sasl.login.refresh.window.factor": "0.8", "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
		"transaction.partition.verification.enable": "true", "log.cleaner.threads": "1",
		"metric.reporters": "org.apache.kafka.common.metrics.JmxReporter",
	} {
		c, ok := d[name]
		if !ok || c.Value == nil || *c.Value != want || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s: %+v, want default %s", name, c, want)
		}
	}
	if c := d["connections.max.idle.ms"]; c.Value == nil || *c.Value != "123000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("connections.max.idle.ms: %+v", c)
	}

	alter := func(name, key, value string) (int16, string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = key, &value
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp := send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
		msg := ""
		if m := resp.Resources[0].ErrorMessage; m != nil {
			msg = *m
		}
		return resp.Resources[0].ErrorCode, msg
	}
	// Per-broker: refused at the cluster-default level, as Kafka does.
	if code, msg := alter("", "sasl.kerberos.min.time.before.relogin", "30000"); code != kerr.InvalidConfig.Code || !strings.Contains(msg, "broker id must be specified") {
		t.Errorf("per-broker at cluster level: %v %q", kerr.ErrorForCode(code), msg)
	}
	if code, msg := alter(node, "sasl.kerberos.min.time.before.relogin", "30000"); code != 0 {
		t.Fatalf("sasl.kerberos.min.time.before.relogin: %v %s", kerr.ErrorForCode(code), msg)
	}
	if code, msg := alter("", "num.io.threads", "16"); code != 0 {
		t.Fatalf("num.io.threads: %v %s", kerr.ErrorForCode(code), msg)
	}
	if code, msg := alter(node, "sasl.login.refresh.window.factor", "0.2"); code != kerr.InvalidConfig.Code || !strings.Contains(msg, "Value must be at least 0.5") {
		t.Errorf("out of range: %v %q", kerr.ErrorForCode(code), msg)
	}
	if code, msg := alter(node, "num.io.threads", "0"); code != kerr.InvalidConfig.Code {
		t.Errorf("num.io.threads=0: %v %q", kerr.ErrorForCode(code), msg)
	}
	if code, _ := alter(node, "connections.max.idle.ms", "1000"); code != kerr.InvalidConfig.Code {
		t.Errorf("read-only connections.max.idle.ms altered: %v", kerr.ErrorForCode(code))
	}

	tb.stop(t)
	tb = startBroker(t, dir, static)
	adm = kadm.NewClient(newClient(t, tb.addr))
	d = describe()
	for name, want := range map[string]string{"sasl.kerberos.min.time.before.relogin": "30000", "num.io.threads": "16"} {
		if c := d[name]; c.Value == nil || *c.Value != want || c.Source == kmsg.ConfigSourceDefaultConfig {
			t.Errorf("after restart %s: %+v, want %s", name, c, want)
		}
	}
}
