package group

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicGroup is a group whose members (in join order) list the
// protocols in members: "a:range,roundrobin b:roundrobin".
func classicGroup(members string) *group {
	g := &group{members: map[string]*member{}, static: map[string]string{}, protocolType: "consumer"}
	for _, f := range strings.Fields(members) {
		id, names, _ := strings.Cut(f, ":")
		m := &member{id: id, protocolType: "consumer"}
		for _, n := range strings.Split(names, ",") {
			m.protocols = append(m.protocols, protocol{name: n})
		}
		g.add(m)
	}
	return g
}

// TestClassicProtocolSelection: the protocol of a classic group is
// Kafka's vote: among the protocols every member supports, each member
// votes for the first in its own order; most votes wins, a tie going to
// the candidate the first member prefers.
func TestClassicProtocolSelection(t *testing.T) {
	for _, c := range []struct {
		name, members, candidates, want string
	}{
		{"one member: its first", "a:range,roundrobin", "range,roundrobin", "range"},
		{"only common protocols count", "a:sticky,range b:range", "range", "range"},
		{"majority of first choices", "a:range,roundrobin b:roundrobin,range c:roundrobin,range", "range,roundrobin", "roundrobin"},
		{"a tie goes to the first member's preference", "a:range,roundrobin b:roundrobin,range", "range,roundrobin", "range"},
		{"a vote goes to the first supported", "a:cooperative-sticky,range b:cooperative-sticky,range c:range", "range", "range"},
		{"nothing in common", "a:range b:roundrobin", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := classicGroup(c.members)
			if got := strings.Join(g.candidates(), ","); got != c.candidates {
				t.Errorf("candidates %q, want %q", got, c.candidates)
			}
			if got := g.selectProtocol(); got != c.want {
				t.Errorf("selected %q, want %q", got, c.want)
			}
		})
	}
}

// TestClassicProtocolSupport: a joining member fits an empty group with
// any non-empty type and protocol list, and a group with members when the
// type matches and one of its protocols is a candidate (Kafka's
// supportsProtocols; otherwise INCONSISTENT_GROUP_PROTOCOL).
func TestClassicProtocolSupport(t *testing.T) {
	join := func(names ...string) []kmsg.JoinGroupRequestProtocol {
		var ps []kmsg.JoinGroupRequestProtocol
		for _, n := range names {
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = n
			ps = append(ps, p)
		}
		return ps
	}
	empty := classicGroup("")
	if !empty.supports("consumer", join("range")) || empty.supports("", join("range")) || empty.supports("consumer", nil) {
		t.Error("an empty group takes any non-empty type and protocol list, nothing else")
	}
	g := classicGroup("a:range,roundrobin b:roundrobin")
	for _, c := range []struct {
		ptype string
		names []string
		want  bool
	}{
		{"consumer", []string{"roundrobin"}, true},
		{"consumer", []string{"sticky", "roundrobin"}, true},
		{"consumer", []string{"range"}, false}, // b does not support range
		{"connect", []string{"roundrobin"}, false},
	} {
		if got := g.supports(c.ptype, join(c.names...)); got != c.want {
			t.Errorf("supports(%s, %v) = %v, want %v", c.ptype, c.names, got, c.want)
		}
	}
	if !slices.Equal(g.candidates(), []string{"roundrobin"}) {
		t.Errorf("candidates %v", g.candidates())
	}
}
