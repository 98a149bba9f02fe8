package broker

// DeleteTopics: v1-6
//
// Behaviour:
// * By name, or by topic id (v6+). Unknown topics are
//   UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID for ids).
// * delete.topic.enable=false refuses with TOPIC_DELETION_DISABLED.
// * The topic leaves the metadata first, then its logs are removed.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/meta"
)

func init() { register(20, 1, 6, handleDeleteTopics) }

// deleteTarget is one topic of a DeleteTopics request: by name, or by id
// (v6+, name null or empty).
type deleteTarget struct {
	name *string
	id   [16]byte
}

// deleteTargets lists a request's topics in either version's form.
func deleteTargets(r *request, req *kmsg.DeleteTopicsRequest) []deleteTarget {
	var targets []deleteTarget
	if r.version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, deleteTarget{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, deleteTarget{name: &n})
		}
	}
	return targets
}

func handleDeleteTopics(b *Broker, r *request, req *kmsg.DeleteTopicsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	enabled := b.brokerBool("delete.topic.enable")
	for _, tg := range deleteTargets(r, req) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var t *topic
		byID := tg.name == nil || *tg.name == ""
		if byID {
			t = b.topicByID(tg.id)
		} else {
			t = b.topic(*tg.name)
		}
		switch {
		case t == nil && byID:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case !byID && !r.allowed(auth.OpDelete, auth.Topic(*tg.name)):
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case !r.allowed(auth.OpDelete, auth.Topic(t.meta.Name)):
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		case !enabled:
			st.ErrorCode = kerr.TopicDeletionDisabled.Code
		default:
			name := t.meta.Name
			st.Topic, st.TopicID = &name, t.meta.ID
			if err := b.deleteTopic(name); err != nil {
				if errors.Is(err, meta.ErrUnknownTopic) {
					st.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					b.logger.Error("deleting topic failed", "topic", name, "err", err)
					st.ErrorCode = kerr.KafkaStorageError.Code
					st.ErrorMessage = errMessage(err)
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
