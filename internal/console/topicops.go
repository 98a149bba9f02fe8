package console

// Topic operations beyond create, delete and config edit: adding
// partitions (CreatePartitions) and deleting the records before an offset
// (DeleteRecords), as kafka-topics.sh --alter --partitions and
// kafka-delete-records.sh do.

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// addPartitions raises the topic's partition count to the form's total
// ("count"), Kafka validating it (INVALID_PARTITIONS when not larger).
func (c *Console) addPartitions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if err := r.ParseForm(); err != nil {
		c.topicPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error(), "", "")
		return
	}
	s := strings.TrimSpace(r.PostFormValue("count"))
	err := func() error {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 1 {
			return badInput("partition count %q is not a positive number", s)
		}
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 30000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, int32(n)
		req.Topics = append(req.Topics, rt)
		resp, err := call[*kmsg.CreatePartitionsResponse](r.Context(), c.be, req)
		if err != nil {
			return err
		}
		if len(resp.Topics) != 1 {
			return fmt.Errorf("CreatePartitions: %d topics in the response", len(resp.Topics))
		}
		return codeErr(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
	}()
	if err != nil {
		if status(err) == http.StatusNotFound {
			c.fail(w, r, http.StatusNotFound, fmt.Errorf("topic %q: %w", name, err))
			return
		}
		c.topicPage(w, r, status(err), fmt.Sprintf("Partitions not added: %v", err), "", "")
		return
	}
	redirect(w, r, "/topics/"+pathEscape(name)+"#partitions", fmt.Sprintf("Topic %s now has %s partitions.", name, s))
}

// deleteRecords moves a partition's log start to the form's offset
// ("high watermark" for the end), deleting the records before it; the
// confirm box must be ticked.
func (c *Console) deleteRecords(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PathValue("topic")
	if err := r.ParseForm(); err != nil {
		c.topicPage(w, r, http.StatusBadRequest, "malformed form: "+err.Error(), "", "")
		return
	}
	ps, os := strings.TrimSpace(r.PostFormValue("partition")), strings.TrimSpace(r.PostFormValue("offset"))
	var low int64
	err := func() error {
		if r.PostFormValue("confirm") != "yes" {
			return badInput("not deleted: tick the confirmation box")
		}
		t, err := c.topicMeta(ctx, name)
		if err != nil {
			return err
		}
		p, err := strconv.ParseInt(ps, 10, 32)
		if err != nil || p < 0 || int(p) >= len(t.Partitions) {
			return badInput("topic %s has no partition %q (it has %d)", name, ps, len(t.Partitions))
		}
		var off int64
		if os == "end" || os == "-1" {
			off = -1 // Kafka's "up to the high watermark"
		} else if off, err = strconv.ParseInt(os, 10, 64); err != nil || off < 0 {
			return badInput("offset %q is not a non-negative number (or \"end\")", os)
		}
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = 30000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = name
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = int32(p), off
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := call[*kmsg.DeleteRecordsResponse](ctx, c.be, req)
		if err != nil {
			return err
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return fmt.Errorf("DeleteRecords: unexpected response shape")
		}
		rp2 := resp.Topics[0].Partitions[0]
		if err := codeErr(rp2.ErrorCode, nil); err != nil {
			return fmt.Errorf("partition %d offset %s: %w", p, os, err)
		}
		low = rp2.LowWatermark
		return nil
	}()
	if err != nil {
		if status(err) == http.StatusNotFound && strings.Contains(err.Error(), "does not exist") {
			c.fail(w, r, http.StatusNotFound, err)
			return
		}
		c.topicPage(w, r, status(err), fmt.Sprintf("Records not deleted: %v", err), "", "")
		return
	}
	redirect(w, r, "/topics/"+pathEscape(name)+"#partitions", fmt.Sprintf("Deleted the records of partition %s before offset %d.", ps, low))
}
