package apiserver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// memberCallTimeout bounds how long the cluster's view of the devices
// waits for one member.
const memberCallTimeout = 5 * time.Second

// clusterDevices is every device of the model with the status its master
// reports: this node's own for the devices it masters, and each other
// member's (asked over its API, all at once) for theirs. A device whose
// master does not answer, or that has no master yet, is listed with the
// reason as its last error.
func (s *Server) clusterDevices(ctx context.Context) (*p4ctlv1.DevicesResponse, error) {
	model := s.ctl.Model()
	assign := s.node.Assignments()
	self := s.node.ID()
	byMember := map[string][]*p4ctlv1.DeviceStatus{self: DeviceStatuses(s.ctl.Devices())}
	failed := map[string]string{}
	var mu sync.Mutex // guards byMember and failed
	var wg sync.WaitGroup
	for _, member := range slices.Sorted(maps.Keys(assign.PerMember())) {
		if member == self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds, err := s.memberDevices(ctx, member)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[member] = err.Error()
				return
			}
			byMember[member] = ds
		}()
	}
	wg.Wait()
	index := map[string]map[string]*p4ctlv1.DeviceStatus{}
	for m, ds := range byMember {
		index[m] = map[string]*p4ctlv1.DeviceStatus{}
		for _, d := range ds {
			index[m][d.GetName()] = d
		}
	}
	out := &p4ctlv1.DevicesResponse{Node: self}
	for _, name := range slices.Sorted(maps.Keys(model.Devices)) {
		dev := model.Devices[name]
		a, ok := assign[name]
		st := index[a.Member][name]
		switch {
		case !ok:
			st = &p4ctlv1.DeviceStatus{Name: name, Address: dev.Address, LastError: "no master yet: the leader has not assigned the device to a member"}
		case failed[a.Member] != "":
			st = &p4ctlv1.DeviceStatus{Name: name, Address: dev.Address, Master: a.Member, MasterEpoch: a.Epoch,
				LastError: fmt.Sprintf("master %s did not report: %s", a.Member, failed[a.Member])}
		case st == nil:
			st = &p4ctlv1.DeviceStatus{Name: name, Address: dev.Address, Master: a.Member, MasterEpoch: a.Epoch,
				LastError: fmt.Sprintf("master %s holds no session to the device yet", a.Member)}
		}
		// The master's own view names the assignment it works under; the
		// replicated one is what the cluster decided.
		st.Master, st.MasterEpoch = a.Member, a.Epoch
		out.Devices = append(out.Devices, st)
	}
	return out, nil
}

// memberDevices asks member for the statuses of its own sessions.
func (s *Server) memberDevices(ctx context.Context, member string) ([]*p4ctlv1.DeviceStatus, error) {
	addr := s.node.APIAddr(member)
	if addr == "" {
		return nil, fmt.Errorf("member %s has not published its API address", member)
	}
	conn, err := s.leaders.get(addr)
	if err != nil {
		return nil, fmt.Errorf("dial member %s at %s: %w", member, addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, memberCallTimeout)
	defer cancel()
	resp, err := p4ctlv1.NewControllerClient(conn).Devices(ctx, &p4ctlv1.DevicesRequest{Local: true})
	if err != nil {
		return nil, err
	}
	return resp.GetDevices(), nil
}
