package group

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Classic groups' protocols: the members' (type, [name, metadata]) lists
// from JoinGroup, the choice of the group's protocol (Kafka's vote among
// the protocols every member supports: range, roundrobin, sticky,
// cooperative-sticky or any other name; the assignment itself is the
// leader's, client side), and reading the consumer protocol's
// ConsumerMemberMetadata for the topics members subscribe to.

type protocol struct {
	name     string
	metadata []byte
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i, p := range ps {
		if p.Name != m.protocols[i].name || !bytes.Equal(p.Metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// candidates are the protocols every member supports.
func (g *group) candidates() []string {
	var out []string
	for i, id := range g.order {
		m := g.members[id]
		if i == 0 {
			for _, p := range m.protocols {
				out = append(out, p.name)
			}
			continue
		}
		kept := out[:0]
		for _, name := range out {
			if hasProtocol(m, name) {
				kept = append(kept, name)
			}
		}
		out = kept
	}
	return out
}

func hasProtocol(m *member, name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

// supports is Kafka's supportsProtocols: an empty group takes any
// non-empty protocol type and list; otherwise the type must match and one
// protocol must be supported by every member.
func (g *group) supports(ptype string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return ptype != "" && len(ps) > 0
	}
	if ptype != g.protocolType {
		return false
	}
	cands := g.candidates()
	for _, p := range ps {
		for _, c := range cands {
			if p.Name == c {
				return true
			}
		}
	}
	return false
}

// selectProtocol is Kafka's vote: each member votes for the first
// candidate in its own preference order; most votes wins, ties going to the
// candidate the earliest member prefers.
func (g *group) selectProtocol() string {
	cands := g.candidates()
	if len(cands) == 0 {
		return ""
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if containsString(cands, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := cands[0]
	for _, c := range cands {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func protocolsOf(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		out[i] = protocol{p.Name, p.Metadata}
	}
	return out
}

// subscribedTopics are the topics the members of a consumer group
// subscribe to, from their ConsumerMemberMetadata for the selected
// protocol.
func (g *group) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	for _, m := range g.members {
		md := m.metadataFor(g.protocol)
		if g.protocol == "" && len(m.protocols) > 0 {
			md = m.protocols[0].metadata
		}
		var cm kmsg.ConsumerMemberMetadata
		if cm.ReadFrom(md) != nil {
			continue
		}
		for _, t := range cm.Topics {
			out[t] = true
		}
	}
	return out
}
