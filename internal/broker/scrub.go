package broker

import (
	"errors"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

// Scrubbing: a goroutine, started by Serve and stopped by Close, that
// CRC-checks once per second up to log.scrubber.io.max.bytes.per.second
// (Sluice's own config, dynamic; 0 disables) of the stored batches neither
// recovery nor a fetch has checked yet, partition by partition (see
// internal/log/verify.go). A damaged batch is logged once and counted in
// Broker.Corruptions; fetches of it get CORRUPT_MESSAGE.

const scrubRateConfig = "log.scrubber.io.max.bytes.per.second"

func (b *Broker) scrubLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.runScrub(b.brokerInt(scrubRateConfig))
		}
	}
}

// runScrub checks up to budget bytes over the partitions, in order.
func (b *Broker) runScrub(budget int64) {
	for _, p := range b.allPartitions() {
		if budget <= 0 {
			return
		}
		n, err := p.log.Scrub(budget)
		budget -= n
		if err != nil && !errors.Is(err, log.ErrClosed) {
			b.logger.Warn("scrubbing failed", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}

// Corruptions is the number of damaged batches found in stored data (by
// fetches and the scrubber) since start-up, summed over the open logs
// (log.Log.Corruptions): the counter a metrics endpoint exports.
func (b *Broker) Corruptions() int64 {
	var n int64
	for _, p := range b.allPartitions() {
		n += p.log.Corruptions()
	}
	return n
}
