package agent

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"

	"github.com/p4ctl/p4ctl/pkg/gnmi/oc"
	"github.com/p4ctl/p4ctl/pkg/lldp"
)

// LocalSystem is this system as its LLDP speaker announces it.
type LocalSystem struct {
	ChassisID         string // rendered (a MAC as aa:bb:...)
	ChassisIDType     uint8  // LLDP chassis ID subtype
	SystemName        string
	SystemDescription string
}

// operStatus maps netlink's oper state names to OpenConfig's.
var operStatus = map[string]oc.E_Interface_OperStatus{
	"up": oc.Interface_OperStatus_UP, "down": oc.Interface_OperStatus_DOWN, "lower-layer-down": oc.Interface_OperStatus_LOWER_LAYER_DOWN,
	"dormant": oc.Interface_OperStatus_DORMANT, "not-present": oc.Interface_OperStatus_NOT_PRESENT, "testing": oc.Interface_OperStatus_TESTING,
	"unknown": oc.Interface_OperStatus_UNKNOWN,
}

// render builds the OpenConfig tree of links, their P4 ports, and LLDP.
// Links whose oper state is "unknown" but are administratively up (veth,
// dummy and tun devices report no carrier state) count as UP.
func render(links []Link, ports map[string]uint32, local *LocalSystem, neighbors []lldp.Neighbor, now time.Time) *oc.Device {
	d := &oc.Device{}
	byName := map[string]*Link{}
	for i := range links {
		byName[links[i].Name] = &links[i]
	}
	for _, l := range links {
		i := d.GetOrCreateInterface(l.Name)
		i.Ifindex = ygot.Uint32(uint32(l.Index))
		if l.MTU > 0 && l.MTU <= 65535 {
			i.Mtu = ygot.Uint16(uint16(l.MTU))
		}
		i.Enabled = ygot.Bool(l.AdminUp)
		i.AdminStatus = oc.Interface_AdminStatus_DOWN
		if l.AdminUp {
			i.AdminStatus = oc.Interface_AdminStatus_UP
		}
		i.OperStatus = operStatus[l.Oper]
		if i.OperStatus == oc.Interface_OperStatus_UNSET {
			i.OperStatus = oc.Interface_OperStatus_UNKNOWN
		}
		if l.Oper == "unknown" && l.AdminUp {
			i.OperStatus = oc.Interface_OperStatus_UP
		}
		switch {
		case l.Name == "lo":
			i.Type = oc.IETFInterfaces_InterfaceType_softwareLoopback
		case l.Kind == "bond":
			i.Type = oc.IETFInterfaces_InterfaceType_ieee8023adLag
			i.GetOrCreateAggregation().Member = slices.Sorted(slices.Values(l.Members))
		case l.Kind == "vlan":
			i.Type = oc.IETFInterfaces_InterfaceType_l2vlan
		case len(l.MAC) == 6:
			i.Type = oc.IETFInterfaces_InterfaceType_ethernetCsmacd
		default:
			i.Type = oc.IETFInterfaces_InterfaceType_other
		}
		if len(l.MAC) == 6 && l.Name != "lo" {
			i.GetOrCreateEthernet().MacAddress = ygot.String(l.MAC.String())
		}
		if m := byName[l.Master]; m != nil && m.Kind == "bond" {
			i.GetOrCreateEthernet().AggregateId = ygot.String(l.Master)
		}
		if id, ok := ports[l.Name]; ok {
			i.Id = ygot.Uint32(id)
		}
		c := i.GetOrCreateCounters()
		c.InOctets, c.InPkts, c.InErrors, c.InDiscards = ygot.Uint64(l.Stats.InOctets), ygot.Uint64(l.Stats.InPkts), ygot.Uint64(l.Stats.InErrors), ygot.Uint64(l.Stats.InDiscards)
		c.InMulticastPkts = ygot.Uint64(l.Stats.InMulticast)
		c.OutOctets, c.OutPkts, c.OutErrors, c.OutDiscards = ygot.Uint64(l.Stats.OutOctets), ygot.Uint64(l.Stats.OutPkts), ygot.Uint64(l.Stats.OutErrors), ygot.Uint64(l.Stats.OutDiscards)
	}
	// A VLAN interface is also a subinterface of its parent, indexed by
	// its VLAN id.
	for _, l := range links {
		if l.Kind != "vlan" || l.Parent == "" || d.Interface[l.Parent] == nil || l.VLANID <= 0 || l.VLANID > 4094 {
			continue
		}
		s := d.Interface[l.Parent].GetOrCreateSubinterface(uint32(l.VLANID))
		s.Ifindex = ygot.Uint32(uint32(l.Index))
		s.Name = ygot.String(l.Name)
		s.AdminStatus = oc.Interface_AdminStatus_DOWN
		if l.AdminUp {
			s.AdminStatus = oc.Interface_AdminStatus_UP
		}
		s.GetOrCreateVlan().GetOrCreateMatch().GetOrCreateSingleTagged().VlanId = ygot.Uint16(uint16(l.VLANID))
	}
	if local != nil {
		ll := d.GetOrCreateLldp()
		ll.Enabled = ygot.Bool(true)
		ll.ChassisId = ygot.String(local.ChassisID)
		ll.ChassisIdType = oc.E_OpenconfigLldpTypes_ChassisIdType(local.ChassisIDType)
		if local.SystemName != "" {
			ll.SystemName = ygot.String(local.SystemName)
		}
		if local.SystemDescription != "" {
			ll.SystemDescription = ygot.String(local.SystemDescription)
		}
		for _, n := range neighbors {
			if d.Interface[n.LocalInterface] == nil {
				continue // an interface the agent does not serve
			}
			li := ll.GetOrCreateInterface(n.LocalInterface)
			li.Enabled = ygot.Bool(true)
			nb := li.GetOrCreateNeighbor(n.ChassisString() + " " + n.PortString())
			nb.ChassisId, nb.PortId = ygot.String(n.ChassisString()), ygot.String(n.PortString())
			nb.ChassisIdType = oc.E_OpenconfigLldpTypes_ChassisIdType(n.ChassisIDSubtype)
			nb.PortIdType = oc.E_OpenconfigLldpTypes_PortIdType(n.PortIDSubtype)
			nb.Ttl = ygot.Uint16(uint16(n.TTL / time.Second))
			nb.LastUpdate = ygot.Int64(n.LastUpdate.UnixNano())
			nb.Age = ygot.Uint64(uint64(max(now.Sub(n.LastUpdate), 0) / time.Second))
			if n.SystemName != "" {
				nb.SystemName = ygot.String(n.SystemName)
			}
			if n.SystemDescription != "" {
				nb.SystemDescription = ygot.String(n.SystemDescription)
			}
			if n.PortDescription != "" {
				nb.PortDescription = ygot.String(n.PortDescription)
			}
			if len(n.ManagementAddresses) > 0 {
				nb.ManagementAddress = ygot.String(n.ManagementAddresses[0].String())
			}
		}
	}
	return d
}

// leaves flattens d into gNMI updates by full path (prefix joined in).
func leaves(d *oc.Device) (map[string]*gpb.Update, error) {
	ns, err := ygot.TogNMINotifications(d, 0, ygot.GNMINotificationsConfig{UsePathElem: true})
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	out := map[string]*gpb.Update{}
	for _, n := range ns {
		for _, u := range n.GetUpdate() {
			p := &gpb.Path{Elem: append(slices.Clone(n.GetPrefix().GetElem()), u.GetPath().GetElem()...)}
			out[pathKey(p)] = &gpb.Update{Path: p, Val: u.GetVal()}
		}
	}
	return out, nil
}

// pathKey is a path as a comparable string.
func pathKey(p *gpb.Path) string {
	var b strings.Builder
	for _, e := range p.GetElem() {
		b.WriteByte('/')
		b.WriteString(e.GetName())
		for _, k := range slices.Sorted(maps.Keys(e.GetKey())) {
			fmt.Fprintf(&b, "[%s=%s]", k, e.GetKey()[k])
		}
	}
	return b.String()
}
