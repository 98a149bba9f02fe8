package broker

// Config lookup: the effective broker configs (static, then cluster-wide
// dynamic, then the internal/meta default) and the log settings a topic's
// configs resolve to (Kafka's precedence: topic override, broker synonym,
// default; see meta.TopicValue).

import (
	"math"
	"strconv"
	"time"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/meta"
)

// brokerConfigs is the broker-level config view used for resolution.
func (b *Broker) brokerConfigs() meta.Broker {
	return meta.Broker{Static: b.cfg.Kafka, Dynamic: b.store.BrokerDynamic()}
}

// brokerValue is the effective value of a broker config.
func (b *Broker) brokerValue(name string) string {
	v, _ := meta.BrokerValue(name, b.brokerConfigs())
	return v
}

// brokerInt is the effective value of an integer broker config; its default
// comes from the definition in internal/meta, the one place defaults live.
// Every name the broker reads must be defined there with a default
// (TestBrokerConfigReadsAreDefined checks the source); a name that is not is
// a programming error, logged, and reads as 0.
func (b *Broker) brokerInt(name string) int64 {
	v, err := strconv.ParseInt(b.brokerValue(name), 10, 64)
	if err != nil {
		b.logger.Error("broker config without an integer value", "config", name, "err", err)
		return 0
	}
	return v
}

// brokerMs is an integer broker config in milliseconds as a duration.
func (b *Broker) brokerMs(name string) time.Duration {
	return time.Duration(b.brokerInt(name)) * time.Millisecond
}

func (b *Broker) brokerBool(name string) bool { return b.brokerValue(name) == "true" }

// logConfig turns a topic's effective configs into the log's settings.
func (b *Broker) logConfig(overrides map[string]string) log.Config {
	bc := b.brokerConfigs()
	i64 := func(name string, def int64) int64 {
		v, err := strconv.ParseInt(meta.TopicValue(name, overrides, bc), 10, 64)
		if err != nil {
			return def
		}
		return v
	}
	i32 := func(name string, def int32) int32 {
		v := i64(name, int64(def))
		if v > math.MaxInt32 {
			return math.MaxInt32
		}
		return int32(v)
	}
	c := log.DefaultConfig()
	c.SegmentBytes = i64("segment.bytes", c.SegmentBytes)
	c.SegmentMs = i64("segment.ms", c.SegmentMs)
	c.SegmentIndexBytes = i32("segment.index.bytes", c.SegmentIndexBytes)
	c.IndexIntervalBytes = i32("index.interval.bytes", c.IndexIntervalBytes)
	c.MaxMessageBytes = i32("max.message.bytes", c.MaxMessageBytes)
	c.FlushMessages = i64("flush.messages", c.FlushMessages)
	c.FlushMs = i64("flush.ms", c.FlushMs)
	c.TimestampBeforeMaxMs = i64("message.timestamp.before.max.ms", c.TimestampBeforeMaxMs)
	c.TimestampAfterMaxMs = i64("message.timestamp.after.max.ms", c.TimestampAfterMaxMs)
	if meta.TopicValue("message.timestamp.type", overrides, bc) == "LogAppendTime" {
		c.TimestampType = log.LogAppendTime
	} else {
		c.TimestampType = log.CreateTime
	}
	c.ProducerIDExpirationMs = b.brokerInt("producer.id.expiration.ms")
	lifecycleConfig(&c, overrides, bc) // retention and compaction (lifecycle.go)
	return c
}

// reconfigure re-resolves every live log's settings after a config change.
func (b *Broker) reconfigure() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, t := range b.topics {
		c := b.logConfig(t.meta.Configs)
		for _, p := range t.partitions {
			p.log.SetConfig(c)
		}
	}
}
