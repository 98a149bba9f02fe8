package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The helpers below call the coordinator's asynchronous requests with a
// Config.Write that appends and reports at once (harness.write, or none),
// so the answer has arrived when the call returns; a missing answer is a
// bug the helpers report by panicking.

func commitSync(c *Coordinator, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	var out *kmsg.OffsetCommitResponse
	c.OffsetCommit(req, func(r *kmsg.OffsetCommitResponse) { out = r })
	if out == nil {
		panic("OffsetCommit did not answer")
	}
	return out
}

func txnCommitSync(c *Coordinator, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	var out *kmsg.TxnOffsetCommitResponse
	c.TxnOffsetCommit(req, func(r *kmsg.TxnOffsetCommitResponse) { out = r })
	if out == nil {
		panic("TxnOffsetCommit did not answer")
	}
	return out
}

func deleteGroupSync(c *Coordinator, id string) *kerr.Error {
	var out *kerr.Error
	answered := false
	c.DeleteGroup(id, func(err *kerr.Error) { out, answered = err, true })
	if !answered {
		panic("DeleteGroup did not answer")
	}
	return out
}

func deleteOffsetsSync(c *Coordinator, id string, topics []kmsg.OffsetDeleteRequestTopic) (*kerr.Error, []kmsg.OffsetDeleteResponseTopic) {
	var out *kerr.Error
	var ts []kmsg.OffsetDeleteResponseTopic
	answered := false
	c.DeleteOffsets(id, topics, func(err *kerr.Error, t []kmsg.OffsetDeleteResponseTopic) { out, ts, answered = err, t, true })
	if !answered {
		panic("DeleteOffsets did not answer")
	}
	return out, ts
}

// write is the harness's Config.Write: it appends through Append or
// AppendTxn and reports at once.
func (h *harness) write(w *Write) {
	var err error
	if w.ProducerID >= 0 {
		err = h.AppendTxn(w.Partition, w.ProducerID, w.ProducerEpoch, w.Records)
	} else {
		err = h.Append(w.Partition, w.Records)
	}
	h.c.Applied(w, err)
}
