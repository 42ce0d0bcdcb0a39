package agent

import (
	"context"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Link is what the agent serves of one interface.
type Link struct {
	Name    string
	Index   int
	Kind    string // netlink kind: "" (a device), "veth", "bond", "vlan", "bridge", "dummy", ...
	MTU     int
	MAC     net.HardwareAddr
	AdminUp bool
	Oper    string // RFC 2863 oper status as netlink names it: up, down, lower-layer-down, dormant, not-present, testing, unknown
	Master  string // the bond (or bridge) this interface is enslaved to
	Parent  string // a VLAN interface's parent
	VLANID  int
	Members []string // a bond's members
	Stats   Counters
}

// Counters are an interface's statistics.
type Counters struct {
	InOctets, InPkts, InErrors, InDiscards, InMulticast    uint64
	OutOctets, OutPkts, OutErrors, OutDiscards, Collisions uint64
}

// LinkSource is where the agent reads interfaces: the kernel through
// netlink (NetlinkSource), or a fixed list in tests.
//
// Run calls Watch once, on a goroutine of its own, and Links from its own
// goroutine meanwhile, so the two must be safe to call concurrently;
// changed only signals Run, without blocking, and may be called from any
// goroutine.
type LinkSource interface {
	// Links lists every interface now.
	Links() ([]Link, error)
	// Watch calls changed with an interface's name whenever the kernel
	// reports a change to it, until ctx ends.
	Watch(ctx context.Context, changed func(name string)) error
}

// NetlinkSource reads interfaces from the kernel, in the named network
// namespace ("" for the agent's own).
type NetlinkSource struct {
	Namespace string
}

func (s NetlinkSource) handle() (*netlink.Handle, func(), error) {
	if s.Namespace == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, nil, err
		}
		return h, h.Close, nil
	}
	ns, err := netns.GetFromName(s.Namespace)
	if err != nil {
		return nil, nil, fmt.Errorf("netns %s: %w", s.Namespace, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, nil, err
	}
	return h, func() { h.Close(); ns.Close() }, nil
}

// Links lists the interfaces through netlink.
func (s NetlinkSource) Links() ([]Link, error) {
	h, done, err := s.handle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	defer done()
	ls, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netlink: list links: %w", err)
	}
	byIndex := map[int]string{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	out := make([]Link, 0, len(ls))
	members := map[string][]string{}
	for _, l := range ls {
		a := l.Attrs()
		k := Link{Name: a.Name, Index: a.Index, Kind: l.Type(), MTU: a.MTU, MAC: a.HardwareAddr, AdminUp: a.Flags&net.FlagUp != 0,
			Oper: a.OperState.String(), Master: byIndex[a.MasterIndex]}
		if k.Kind == "device" {
			k.Kind = ""
		}
		if v, ok := l.(*netlink.Vlan); ok {
			k.VLANID, k.Parent = v.VlanId, byIndex[a.ParentIndex]
		}
		if st := a.Statistics; st != nil {
			k.Stats = Counters{InOctets: st.RxBytes, InPkts: st.RxPackets, InErrors: st.RxErrors, InDiscards: st.RxDropped, InMulticast: st.Multicast,
				OutOctets: st.TxBytes, OutPkts: st.TxPackets, OutErrors: st.TxErrors, OutDiscards: st.TxDropped, Collisions: st.Collisions}
		}
		if k.Master != "" {
			members[k.Master] = append(members[k.Master], k.Name)
		}
		out = append(out, k)
	}
	for i := range out {
		if out[i].Kind == "bond" {
			out[i].Members = members[out[i].Name]
		}
	}
	return out, nil
}

// Watch follows netlink link notifications (RTNLGRP_LINK): no polling.
func (s NetlinkSource) Watch(ctx context.Context, changed func(name string)) error {
	opts := netlink.LinkSubscribeOptions{}
	if s.Namespace != "" {
		ns, err := netns.GetFromName(s.Namespace)
		if err != nil {
			return fmt.Errorf("netns %s: %w", s.Namespace, err)
		}
		defer ns.Close()
		opts.Namespace = &ns
	}
	errc := make(chan error, 1)
	opts.ErrorCallback = func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("netlink: subscribe to links: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("netlink: link updates: %w", err)
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("netlink: link updates ended")
			}
			changed(u.Link.Attrs().Name)
		}
	}
}
