package broker

// ListTransactions: v0-2
//
// Behaviour:
// * Lists the transactional ids the principal may DESCRIBE (others are
//   left out), with producer id and state.
// * StateFilters by Kafka's state names (unknown names are returned in
//   UnknownStateFilters and match nothing), ProducerIDFilters, v1+
//   DurationFilterMillis (only transactions running at least that long;
//   -1 none), v2+ TransactionalIDPattern (a regular expression matched
//   against the whole id, RE2 syntax as Kafka's re2j; an invalid one is
//   INVALID_REGULAR_EXPRESSION).
// * Cluster mode: the ids of this broker's loaded coordinators (clients
//   ask every broker).

import (
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/txn"
)

func init() { register(66, 0, 2, handleListTransactions) }

func handleListTransactions(b *Broker, r *request, req *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var states []txn.State
	for _, s := range req.StateFilters {
		if st, ok := txn.ParseState(s); ok {
			states = append(states, st)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	var re *regexp.Regexp
	if req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if re, err = regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$"); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
	}
	now := b.cfg.Now()
	for _, in := range b.allTxns() {
		switch {
		case len(req.StateFilters) > 0 && !slices.Contains(states, in.State):
			continue
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, in.ProducerID):
			continue
		case req.DurationFilterMillis >= 0 && r.version >= 1 && !in.Started.IsZero() &&
			now.Sub(in.Started).Milliseconds() < req.DurationFilterMillis:
			continue
		case re != nil && !re.MatchString(in.TransactionalID):
			continue
		case !r.allowed(auth.OpDescribe, auth.TransactionalID(in.TransactionalID)):
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = in.TransactionalID, in.ProducerID, in.State.String()
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp
}
