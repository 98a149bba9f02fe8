package meta

import (
	"errors"
	"strings"
	"testing"
)

func TestGroupConfigDefaultsFollowBroker(t *testing.T) {
	b := Broker{Static: map[string]string{"group.consumer.session.timeout.ms": "50000"}}
	if v := GroupValue("consumer.session.timeout.ms", nil, b); v != "50000" {
		t.Errorf("consumer.session.timeout.ms = %q, want the broker's 50000", v)
	}
	if v := GroupValue("consumer.session.timeout.ms", map[string]string{"consumer.session.timeout.ms": "55000"}, b); v != "55000" {
		t.Errorf("override: %q", v)
	}
	for _, d := range groupDefsSorted {
		if err := d.Validate(d.Default); err != nil {
			t.Errorf("%s default %q: %v", d.Name, d.Default, err)
		}
		if d.BrokerSynonym != "" {
			if _, ok := BrokerConfig(d.BrokerSynonym); !ok {
				t.Errorf("%s: broker synonym %s undefined", d.Name, d.BrokerSynonym)
			}
		}
	}
}

func TestValidateGroupConfigs(t *testing.T) {
	b := Broker{}
	for _, c := range []struct {
		cfg  map[string]string
		want string // "" for valid
	}{
		{map[string]string{"consumer.session.timeout.ms": "60000", "consumer.heartbeat.interval.ms": "15000"}, ""},
		{map[string]string{"consumer.session.timeout.ms": "44999"}, "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"},
		{map[string]string{"share.record.lock.duration.ms": "14999"}, "share.record.lock.duration.ms must be greater than or equal to group.share.min.record.lock.duration.ms"},
		{map[string]string{"share.auto.offset.reset": "by_duration:P1DT2H"}, ""},
		{map[string]string{"share.auto.offset.reset": "by_duration:-PT1H"}, "The value must be either 'earliest', 'latest'"},
		{map[string]string{"share.auto.offset.reset": "by_duration:PT"}, "The value must be either"},
		{map[string]string{"share.auto.offset.reset": "by_duration:"}, "The value must be either"},
		{map[string]string{"share.auto.offset.reset": "by_duration:PT0.5S"}, ""},
		{map[string]string{"share.auto.offset.reset": "EARLIEST"}, "share.auto.offset.reset"},
		{map[string]string{"nope": "1"}, "Unknown group config name: nope"},
	} {
		err := ValidateGroupConfigs(c.cfg, b)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}
	// The session timeout must exceed the heartbeat interval, with bounds
	// from the broker.
	b = Broker{Static: map[string]string{"group.consumer.min.session.timeout.ms": "1000", "group.consumer.min.heartbeat.interval.ms": "1000"}}
	err := ValidateGroupConfigs(map[string]string{"consumer.session.timeout.ms": "5000", "consumer.heartbeat.interval.ms": "5000"}, b)
	if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms") {
		t.Errorf("session <= heartbeat: %v", err)
	}
}

// TestInertBrokerConfigs: the Kafka dynamic configs that do nothing on
// Sluice are dynamic, say so, and their defaults validate.
func TestInertBrokerConfigs(t *testing.T) {
	for _, s := range inertBrokerSpecs {
		d, ok := BrokerConfig(s.Name)
		if !ok || d.ReadOnly || !strings.Contains(d.Doc, "no effect on Sluice") {
			t.Errorf("%s: %+v", s.Name, d)
		}
		if d.HasDefault {
			if err := d.Validate(d.Default); err != nil {
				t.Errorf("%s default: %v", s.Name, err)
			}
		}
	}
	if err := ValidateBrokerConfigs(map[string]string{"sasl.kerberos.min.time.before.relogin": "1000"}, true); err != nil {
		t.Errorf("sasl.kerberos.min.time.before.relogin: %v", err)
	}
}
