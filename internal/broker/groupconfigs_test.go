package broker

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func alterGroupConfigs(t *testing.T, cl *kgo.Client, group string, kv ...string) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(resourceGroup), group
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name = kv[i]
		if kv[i+1] == "<delete>" {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		} else {
			v := kv[i+1]
			c.Value = &v
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp := send[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
	msg := ""
	if resp.Resources[0].ErrorMessage != nil {
		msg = *resp.Resources[0].ErrorMessage
	}
	return resp.Resources[0].ErrorCode, msg
}

func describeGroupConfigs(t *testing.T, cl *kgo.Client, group string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(resourceGroup), group
	req.Resources = append(req.Resources, rr)
	resp := send[*kmsg.DescribeConfigsResponse](t, cl, req)
	if resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe group %s: %v", group, kerr.ErrorForCode(resp.Resources[0].ErrorCode))
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

func groupHeartbeatInterval(t *testing.T, cl *kgo.Client, group string) int32 {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, "m-"+group, 0
	req.RebalanceTimeoutMillis = 10000
	req.SubscribedTopicNames = []string{"gcfg"}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp := send[*kmsg.ConsumerGroupHeartbeatResponse](t, cl, req)
	if resp.ErrorCode != 0 {
		t.Fatalf("heartbeat %s: %v", group, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.HeartbeatIntervalMillis
}

// TestGroupConfigs: KIP-848 group configs are set, validated against the
// broker's min/max, described with their source, honoured by the
// coordinator, and survive a restart.
func TestGroupConfigs(t *testing.T) {
	dir := t.TempDir()
	static := map[string]string{"group.consumer.heartbeat.interval.ms": "6000"}
	tb := startBroker(t, dir, static)
	cl := newClient(t, tb.addr)
	createTopic(t, cl, "gcfg", 1, nil)

	// Defaults come from the broker configs (static 6000 here).
	d := describeGroupConfigs(t, cl, "none")
	if c := d["consumer.heartbeat.interval.ms"]; c.Value == nil || *c.Value != "6000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("default heartbeat: %+v", c)
	}
	for name, want := range map[string]string{"consumer.session.timeout.ms": "45000", "share.session.timeout.ms": "45000",
		"share.heartbeat.interval.ms": "5000", "share.record.lock.duration.ms": "30000",
		"share.auto.offset.reset": "latest", "share.isolation.level": "read_uncommitted"} {
		if c, ok := d[name]; !ok || c.Value == nil || *c.Value != want {
			t.Errorf("%s: %+v, want %s", name, c, want)
		}
	}

	bad := []struct {
		kv   []string
		code int16
		msg  string
	}{
		{[]string{"consumer.heartbeat.interval.ms", "20000"}, kerr.InvalidConfig.Code, "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"},
		{[]string{"consumer.heartbeat.interval.ms", "1000"}, kerr.InvalidConfig.Code, "must be greater than or equal to group.consumer.min.heartbeat.interval.ms"},
		{[]string{"consumer.session.timeout.ms", "70000"}, kerr.InvalidConfig.Code, "must be less than or equal to group.consumer.max.session.timeout.ms"},
		{[]string{"consumer.session.timeout.ms", "x"}, kerr.InvalidConfig.Code, "Not a number of type INT"},
		{[]string{"share.auto.offset.reset", "sometime"}, kerr.InvalidConfig.Code, "share.auto.offset.reset"},
		{[]string{"share.isolation.level", "dirty"}, kerr.InvalidConfig.Code, "String must be one of"},
		{[]string{"group.consumer.session.timeout.ms", "50000"}, kerr.InvalidConfig.Code, "Unknown config name"},
	}
	for _, c := range bad {
		code, msg := alterGroupConfigs(t, cl, "g1", c.kv...)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%v: %v %q, want %v containing %q", c.kv, kerr.ErrorForCode(code), msg, kerr.ErrorForCode(c.code), c.msg)
		}
	}
	if code, msg := alterGroupConfigs(t, cl, "", "consumer.session.timeout.ms", "50000"); code != kerr.InvalidRequest.Code {
		t.Errorf("empty group name: %v %s", kerr.ErrorForCode(code), msg)
	}

	if code, msg := alterGroupConfigs(t, cl, "g1", "consumer.heartbeat.interval.ms", "7000", "consumer.session.timeout.ms", "50000",
		"share.auto.offset.reset", "by_duration:PT1H30M", "share.isolation.level", "read_committed"); code != 0 {
		t.Fatalf("alter g1: %v %s", kerr.ErrorForCode(code), msg)
	}
	check := func(cl *kgo.Client) {
		t.Helper()
		d := describeGroupConfigs(t, cl, "g1")
		for name, want := range map[string]string{"consumer.heartbeat.interval.ms": "7000", "consumer.session.timeout.ms": "50000",
			"share.auto.offset.reset": "by_duration:PT1H30M", "share.isolation.level": "read_committed"} {
			c := d[name]
			if c.Value == nil || *c.Value != want || c.Source != kmsg.ConfigSource(8) || c.ReadOnly {
				t.Errorf("g1 %s: %+v, want %s from GROUP_CONFIG", name, c, want)
			}
		}
		if c := d["share.session.timeout.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("g1 share.session.timeout.ms source %v", c.Source)
		}
		if got := groupHeartbeatInterval(t, cl, "g1"); got != 7000 {
			t.Errorf("g1 heartbeat interval %d, want 7000", got)
		}
		if got := groupHeartbeatInterval(t, cl, "g2"); got != 6000 {
			t.Errorf("g2 heartbeat interval %d, want the broker's 6000", got)
		}
	}
	check(cl)

	tb.stop(t)
	tb = startBroker(t, dir, static)
	check(newClient(t, tb.addr))
	cl = newClient(t, tb.addr)

	// DELETE returns to the broker's value.
	if code, msg := alterGroupConfigs(t, cl, "g1", "consumer.heartbeat.interval.ms", "<delete>"); code != 0 {
		t.Fatalf("delete: %v %s", kerr.ErrorForCode(code), msg)
	}
	if c := describeGroupConfigs(t, cl, "g1")["consumer.heartbeat.interval.ms"]; c.Value == nil || *c.Value != "6000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("after delete: %+v", c)
	}
}

// noGroupConfigs denies DESCRIBE_CONFIGS and ALTER_CONFIGS on group "secret".
type noGroupConfigs struct{}

func (noGroupConfigs) Authorize(_ auth.Subject, op auth.Operation, res auth.Resource) bool {
	return !(res.Type == auth.ResourceGroup && res.Name == "secret" && (op == auth.OpDescribeConfigs || op == auth.OpAlterConfigs))
}

func TestGroupConfigsAuthorization(t *testing.T) {
	tb := startBrokerWith(t, Config{Authorizer: noGroupConfigs{}})
	cl := newClient(t, tb.addr)
	if code, _ := alterGroupConfigs(t, cl, "secret", "consumer.session.timeout.ms", "50000"); code != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("alter: %v", kerr.ErrorForCode(code))
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(resourceGroup), "secret"
	req.Resources = append(req.Resources, rr)
	if r := send[*kmsg.DescribeConfigsResponse](t, cl, req); r.Resources[0].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("describe: %v", kerr.ErrorForCode(r.Resources[0].ErrorCode))
	}
	if code, msg := alterGroupConfigs(t, cl, "open", "consumer.session.timeout.ms", "50000"); code != 0 {
		t.Errorf("other group: %v %s", kerr.ErrorForCode(code), msg)
	}
	if tb.store.GroupConfigs("secret") != nil {
		t.Error("a refused alter stored configs")
	}
}
