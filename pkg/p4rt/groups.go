package p4rt

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
)

// GroupPlan is the difference between the multicast groups of the packet
// replication engine a device holds and the ones it should hold.
type GroupPlan struct {
	Insert []*p4v1.MulticastGroupEntry
	Modify []*p4v1.MulticastGroupEntry
	Delete []*p4v1.MulticastGroupEntry
}

// Len is the number of group updates in the plan.
func (g GroupPlan) Len() int { return len(g.Insert) + len(g.Modify) + len(g.Delete) }

// DiffGroups compares desired multicast groups with installed ones by
// group id. Replicas are compared as a set:
// targets need not echo them in the order written. Two desired groups
// with one id are an error.
func DiffGroups(desired, installed []*p4v1.MulticastGroupEntry) (GroupPlan, error) {
	have := make(map[uint32]*p4v1.MulticastGroupEntry, len(installed))
	for _, g := range installed {
		have[g.GetMulticastGroupId()] = g
	}
	want := make(map[uint32]bool, len(desired))
	var p GroupPlan
	for _, g := range desired {
		id := g.GetMulticastGroupId()
		if id == 0 {
			return GroupPlan{}, fmt.Errorf("multicast group id 0 is reserved")
		}
		if want[id] {
			return GroupPlan{}, fmt.Errorf("multicast group %d is desired twice", id)
		}
		want[id] = true
		got, ok := have[id]
		switch {
		case !ok:
			p.Insert = append(p.Insert, g)
		case !sameGroup(g, got):
			p.Modify = append(p.Modify, g)
		}
	}
	for _, g := range installed {
		if !want[g.GetMulticastGroupId()] {
			p.Delete = append(p.Delete, g)
		}
	}
	return p, nil
}

// replicaSet is g's replicas (port, instance, backups) as a sorted set of
// their deterministic encodings.
func replicaSet(g *p4v1.MulticastGroupEntry) []string {
	rs := make([]string, len(g.GetReplicas()))
	for i, r := range g.GetReplicas() {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			b = []byte(r.String()) // unreachable for a decoded message; still a stable key
		}
		rs[i] = string(b)
	}
	slices.Sort(rs)
	return slices.Compact(rs)
}

func sameGroup(a, b *p4v1.MulticastGroupEntry) bool {
	return slices.Equal(replicaSet(a), replicaSet(b)) && bytes.Equal(a.GetMetadata(), b.GetMetadata())
}

// ReadGroups reads every multicast group of the device.
func (s *Session) ReadGroups(ctx context.Context) ([]*p4v1.MulticastGroupEntry, error) {
	q := []*p4v1.Entity{{Entity: &p4v1.Entity_PacketReplicationEngineEntry{PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{
		Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{MulticastGroupEntry: &p4v1.MulticastGroupEntry{}}}}}}
	var out []*p4v1.MulticastGroupEntry
	err := s.Read(ctx, q, func(e *p4v1.Entity) error {
		if g := e.GetPacketReplicationEngineEntry().GetMulticastGroupEntry(); g != nil {
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

func groupUpdates(typ p4v1.Update_Type, gs []*p4v1.MulticastGroupEntry) []*p4v1.Update {
	ups := make([]*p4v1.Update, len(gs))
	for i, g := range gs {
		ups[i] = &p4v1.Update{Type: typ, Entity: &p4v1.Entity{Entity: &p4v1.Entity_PacketReplicationEngineEntry{
			PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{MulticastGroupEntry: g}}}}}
	}
	return ups
}
