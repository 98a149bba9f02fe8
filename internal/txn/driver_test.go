package txn

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// tc drives a Coordinator as the broker does: every Write is appended at
// once through persist (nil: always succeeds) and reported with Applied,
// so the tests read as synchronous calls with the old signatures.
type tc struct {
	*Coordinator
	persist func(id string, key, value []byte) error
	nextPID func() (int64, error)
}

// testConfig is a Config with the transaction log the tests append to
// and the producer id allocator: when the coordinator asks for producer
// ids, the driver hands it a block of one id from NextProducerID.
type testConfig struct {
	Config
	Persist        func(id string, key, value []byte) error
	NextProducerID func() (int64, error)
}

func newT(cfg testConfig) *tc { return &tc{New(cfg.Config), cfg.Persist, cfg.NextProducerID} }

// refill carries out a result's request for producer ids; it reports
// whether a block was handed in.
func (c *tc) refill(need bool) bool {
	if !need {
		return false
	}
	if c.nextPID == nil {
		c.ProducerIDs(ProducerIDBlock{}, errors.New("no allocator"))
		return false
	}
	id, err := c.nextPID()
	c.ProducerIDs(ProducerIDBlock{id, id + 1}, err)
	return err == nil
}

func (c *tc) apply(w *Write, err error) error {
	if err != nil || w == nil {
		return err
	}
	var perr error
	if c.persist != nil {
		perr = c.persist(w.ID, w.Key, w.Value)
	}
	return c.Applied(w, perr)
}

func (c *tc) InitProducerID(id string, timeout time.Duration, reqPID int64, reqEpoch int16, now time.Time) (InitResult, error) {
	res, w, err := c.Coordinator.InitProducerID(id, timeout, reqPID, reqEpoch, now)
	if c.refill(res.NeedProducerIDs) && errors.Is(err, kerr.CoordinatorLoadInProgress) {
		res, w, err = c.Coordinator.InitProducerID(id, timeout, reqPID, reqEpoch, now)
		c.refill(res.NeedProducerIDs)
	}
	if err = c.apply(w, err); err != nil {
		return InitResult{}, err
	}
	return res, nil
}

func (c *tc) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, now time.Time) error {
	w, err := c.Coordinator.AddPartitions(id, pid, epoch, parts, now)
	return c.apply(w, err)
}

func (c *tc) EndTxn(id string, pid int64, epoch int16, commit, v2 bool, now time.Time) (EndResult, error) {
	res, w, err := c.Coordinator.EndTxn(id, pid, epoch, commit, v2, now)
	if c.refill(res.NeedProducerIDs) && errors.Is(err, kerr.CoordinatorLoadInProgress) {
		res, w, err = c.Coordinator.EndTxn(id, pid, epoch, commit, v2, now)
		c.refill(res.NeedProducerIDs)
	}
	if err = c.apply(w, err); err != nil {
		return EndResult{}, err
	}
	return res, nil
}

func (c *tc) Complete(comp *Completion) error {
	return c.apply(c.Coordinator.Complete(comp))
}

// Tick applies Tick's writes and returns the timed-out transactions to
// complete.
func (c *tc) Tick(now time.Time) []*Completion {
	var out []*Completion
	ws, _ := c.Coordinator.Tick(now)
	for _, w := range ws {
		if c.apply(w, nil) == nil && w.Abort != nil {
			out = append(out, w.Abort)
		}
	}
	return out
}
