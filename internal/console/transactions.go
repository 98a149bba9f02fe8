package console

// The transactions page: transactions (ListTransactions, then
// DescribeTransactions for their partitions, timeout and age), ongoing ones
// first, and a topic's active producers (DescribeProducers), as
// kafka-transactions.sh list/describe/describe-producers show them. Kafka
// filters by ACL: Describe on a transactional id to see its transaction,
// Read on a topic to see its producers.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxDescribedTxns bounds the transactions described on one page.
const maxDescribedTxns = 500

type txnRow struct {
	ID         string
	ProducerID int64
	Epoch      int16
	State      string
	Timeout    string
	Started    int64 // ms, -1 when not ongoing
	Age        string
	Partitions []string // "topic: [0 1]"
	Err        string
}

type producerRow struct {
	Partition        int32
	ProducerID       int64
	Epoch            int32
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStart         int64 // -1 when none
}

type txnsData struct {
	State     string // the state filter ("" all)
	Txns      []txnRow
	Truncated int // transactions not described
	Topic     string
	Producers []producerRow
	ProdErr   string
}

func (c *Console) transactions(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	d := txnsData{State: q.Get("state"), Topic: strings.TrimSpace(q.Get("topic"))}
	code := http.StatusOK
	var errMsg string
	if len(d.State) > maxSearch || len(d.Topic) > maxSearch {
		c.fail(w, r, http.StatusBadRequest, badInput("a filter is longer than %d characters", maxSearch))
		return
	}
	lreq := kmsg.NewPtrListTransactionsRequest()
	if d.State != "" {
		lreq.StateFilters = []string{d.State}
	}
	list, err := call[*kmsg.ListTransactionsResponse](ctx, c.be, lreq)
	if err == nil {
		err = codeErr(list.ErrorCode, nil)
	}
	if err != nil {
		c.fail(w, r, status(err), fmt.Errorf("listing transactions: %w", err))
		return
	}
	if len(list.UnknownStateFilters) > 0 {
		code, errMsg = http.StatusBadRequest, fmt.Sprintf("unknown transaction state %q (Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Empty, Dead, PrepareEpochFence)", strings.Join(list.UnknownStateFilters, ", "))
	}
	var ids []string
	for _, t := range list.TransactionStates {
		ids = append(ids, t.TransactionalID)
	}
	sort.Strings(ids)
	if len(ids) > maxDescribedTxns {
		d.Truncated = len(ids) - maxDescribedTxns
		ids = ids[:maxDescribedTxns]
	}
	if len(ids) > 0 {
		dreq := kmsg.NewPtrDescribeTransactionsRequest()
		dreq.TransactionalIDs = ids
		desc, err := call[*kmsg.DescribeTransactionsResponse](ctx, c.be, dreq)
		if err != nil {
			c.fail(w, r, status(err), fmt.Errorf("describing transactions: %w", err))
			return
		}
		now := c.now()
		for _, s := range desc.TransactionStates {
			row := txnRow{ID: s.TransactionalID, ProducerID: s.ProducerID, Epoch: s.ProducerEpoch, State: s.State,
				Timeout: (time.Duration(s.TimeoutMillis) * time.Millisecond).String(), Started: -1}
			if err := codeErr(s.ErrorCode, nil); err != nil {
				row.Err = err.Error()
			}
			if s.StartTimestamp > 0 && s.State == "Ongoing" {
				row.Started = s.StartTimestamp
				row.Age = seconds(max(0, now.Sub(time.UnixMilli(s.StartTimestamp)).Seconds()))
			}
			for _, t := range s.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				row.Partitions = append(row.Partitions, fmt.Sprintf("%s: %v", t.Topic, ps))
			}
			sort.Strings(row.Partitions)
			d.Txns = append(d.Txns, row)
		}
		// Ongoing first, oldest first; then by id.
		sort.SliceStable(d.Txns, func(i, j int) bool {
			a, b := d.Txns[i], d.Txns[j]
			if (a.Started >= 0) != (b.Started >= 0) {
				return a.Started >= 0
			}
			if a.Started != b.Started {
				return a.Started < b.Started
			}
			return a.ID < b.ID
		})
	}
	if d.Topic != "" {
		if err := c.producers(r, &d); err != nil {
			// Shown in the producers section; the transactions still are.
			d.ProdErr = err.Error()
			if s := status(err); s != http.StatusForbidden && s != http.StatusNotFound {
				code = s
			}
		}
	}
	c.render(w, r, code, "transactions", page{Title: "Transactions and producers", Nav: "transactions", Error: errMsg, Data: d})
}

// producers describes the active producers of every partition of d.Topic.
func (c *Console) producers(r *http.Request, d *txnsData) error {
	ctx := r.Context()
	t, err := c.topicMeta(ctx, d.Topic)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = t.Name, t.Partitions
	req.Topics = append(req.Topics, rt)
	resp, err := call[*kmsg.DescribeProducersResponse](ctx, c.be, req)
	if err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if err := codeErr(p.ErrorCode, p.ErrorMessage); err != nil {
				return fmt.Errorf("producers of %s/%d: %w", rt.Topic, p.Partition, err)
			}
			for _, ap := range p.ActiveProducers {
				d.Producers = append(d.Producers, producerRow{Partition: p.Partition, ProducerID: ap.ProducerID, Epoch: ap.ProducerEpoch,
					LastSequence: ap.LastSequence, LastTimestamp: ap.LastTimestamp, CoordinatorEpoch: ap.CoordinatorEpoch, TxnStart: ap.CurrentTxnStartOffset})
			}
		}
	}
	sort.Slice(d.Producers, func(i, j int) bool {
		a, b := d.Producers[i], d.Producers[j]
		return a.Partition < b.Partition || a.Partition == b.Partition && a.ProducerID < b.ProducerID
	})
	return nil
}
