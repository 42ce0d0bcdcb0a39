package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// routes are the JSON and event-stream endpoints under /api/v1/
// (docs/console.md lists them with their shapes).
func (c *Console) routes() {
	c.mux.HandleFunc("GET /api/v1/fabric", c.jsonHandler(c.fabric))
	c.mux.HandleFunc("GET /api/v1/devices/{name}", c.jsonHandler(c.device))
	c.mux.HandleFunc("GET /api/v1/segments", c.jsonHandler(c.segments))
	c.mux.HandleFunc("GET /api/v1/segments/{name}/trace", c.jsonHandler(c.cellTrace))
	c.mux.HandleFunc("GET /api/v1/trace", c.jsonHandler(c.trace))
	c.mux.HandleFunc("GET /api/v1/counters", c.jsonHandler(c.counters))
	c.mux.HandleFunc("GET /api/v1/denials", c.jsonHandler(c.denials))
	c.mux.HandleFunc("GET /api/v1/history", c.jsonHandler(c.history))
	c.mux.HandleFunc("GET /api/v1/flows", c.jsonHandler(c.flows))
	c.mux.HandleFunc("GET /api/v1/events", c.events)
	c.mux.HandleFunc("GET /api/v1/denials/stream", c.denialStream)
	c.mux.HandleFunc("GET /api/v1/counters/stream", c.counterStream)
	c.mux.HandleFunc("GET /api/v1/flows/stream", c.flowStream)
	c.mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s: no such console endpoint", r.URL.Path))
	})
}

// httpError is an error with the HTTP status it answers with.
type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Errorf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Errorf(format, args...)}
}

// statusOf maps an error (of the API, or an httpError) to an HTTP status
// and the message the page shows.
func statusOf(err error) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.code, he.Error()
	}
	if st, ok := status.FromError(err); ok {
		code := map[codes.Code]int{codes.NotFound: http.StatusNotFound, codes.InvalidArgument: http.StatusBadRequest,
			codes.PermissionDenied: http.StatusForbidden, codes.Unauthenticated: http.StatusUnauthorized,
			codes.Unavailable: http.StatusServiceUnavailable, codes.DeadlineExceeded: http.StatusGatewayTimeout}[st.Code()]
		return cmp.Or(code, http.StatusBadGateway), "controller API: " + st.Message()
	}
	return http.StatusInternalServerError, err.Error()
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, ErrorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// apiTimeout bounds each unary call the console makes.
const apiTimeout = 15 * time.Second

func (c *Console) jsonHandler(h func(ctx context.Context, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		defer cancel()
		v, err := h(ctx, r)
		if err != nil {
			code, msg := statusOf(err)
			if code >= 500 {
				c.o.Logger.Warn("console request failed", "path", r.URL.Path, "err", err)
			}
			writeError(w, code, errors.New(msg))
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// DeviceView is a device's status as the fabric page shows it.
type DeviceView struct {
	Name           string           `json:"name"`
	Address        string           `json:"address"`
	Target         string           `json:"target"`
	Master         string           `json:"master"`
	MasterEpoch    uint64           `json:"master_epoch"`
	Connected      bool             `json:"connected"`
	Primary        bool             `json:"primary"`
	InSync         bool             `json:"in_sync"`
	Entries        int64            `json:"entries"`
	Tables         map[string]int64 `json:"tables"`
	LastError      string           `json:"last_error"`
	DenialLog      string           `json:"denial_log"`
	PipelineCookie string           `json:"pipeline_cookie"`
	ModelIndex     uint64           `json:"model_index"`
	WriteDone      int64            `json:"write_done"`
	WriteTotal     int64            `json:"write_total"`
	// Queued: the device's full reconcile waits for its share of its
	// master's reconcile budget.
	Queued bool `json:"queued"`
	// Reported: the device's master answered for it (a device of the
	// model nobody reported is shown disconnected).
	Reported bool `json:"reported"`
}

// LinkView is a switch-to-switch link.
type LinkView struct {
	A        string `json:"a"` // device
	APort    uint32 `json:"a_port"`
	B        string `json:"b"`
	BPort    uint32 `json:"b_port"`
	Source   string `json:"source"`
	LastSeen int64  `json:"last_seen_unix_ms"`
	// BothWays: each end's probes reached the other (the compiler uses
	// only such links).
	BothWays bool `json:"both_ways"`
}

// HostView is a host seen on a device port.
type HostView struct {
	Host      string `json:"host"`
	Device    string `json:"device"`
	Port      uint32 `json:"port"`
	Interface string `json:"interface"`
	Source    string `json:"source"`
	LastSeen  int64  `json:"last_seen_unix_ms"`
}

// MemberView is a cluster member.
type MemberView struct {
	ID      string `json:"id"`
	Leader  bool   `json:"leader"`
	Devices int64  `json:"devices"`
	Down    bool   `json:"down"`
}

// FabricView is the fabric page: devices, links, hosts, members.
type FabricView struct {
	Node     string       `json:"node"`
	Leader   string       `json:"leader"`
	Revision uint64       `json:"revision"`
	Devices  []DeviceView `json:"devices"`
	Links    []LinkView   `json:"links"`
	Hosts    []HostView   `json:"hosts"`
	Members  []MemberView `json:"members"`
}

func (c *Console) fabric(ctx context.Context, _ *http.Request) (any, error) {
	return c.fabricView(ctx)
}

func (c *Console) fabricView(ctx context.Context) (*FabricView, error) {
	var p fabricParts
	if err := c.fetchFabric(ctx, &p, needAll); err != nil {
		return nil, err
	}
	return p.view(), nil
}

// What of the fabric view to read again (fetchFabric).
const (
	needModel    = 1 << iota // the model's devices (Get)
	needDevices              // the devices' status and the members (Devices, ClusterStatus)
	needTopology             // links and hosts (Topology)
	needAll      = needModel | needDevices | needTopology
)

// fabricParts are the answers the fabric view is made of.
type fabricParts struct {
	m  *model
	ds *p4ctlv1.DevicesResponse
	cs *p4ctlv1.ClusterStatusResponse // nil: not answered
	tp *p4ctlv1.TopologyResponse
}

// fetchFabric reads again the parts need names (and any not read yet).
func (c *Console) fetchFabric(ctx context.Context, p *fabricParts, need int) error {
	var err error
	if need&needModel != 0 || p.m == nil {
		if p.m, err = c.getKind(ctx, "Device"); err != nil {
			return err
		}
	}
	if need&needDevices != 0 || p.ds == nil {
		if p.ds, err = c.o.API.Devices(ctx, &p4ctlv1.DevicesRequest{FromLeader: true}); err != nil {
			return err
		}
		p.cs, _ = c.o.API.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
	}
	if need&needTopology != 0 || p.tp == nil {
		if p.tp, err = c.o.API.Topology(ctx, &p4ctlv1.TopologyRequest{FromLeader: true}); err != nil {
			return err
		}
	}
	return nil
}

// view is the fabric view of p's answers.
func (p *fabricParts) view() *FabricView {
	m, ds, tp := p.m, p.ds, p.tp
	v := &FabricView{Node: ds.GetNode(), Revision: m.index, Devices: []DeviceView{}, Links: []LinkView{}, Hosts: []HostView{}, Members: []MemberView{}}
	seen := map[string]bool{}
	for _, d := range ds.GetDevices() {
		seen[d.GetName()] = true
		v.Devices = append(v.Devices, deviceView(m, d))
	}
	for name, d := range m.devices {
		if !seen[name] {
			v.Devices = append(v.Devices, DeviceView{Name: name, Address: d.Address, Target: cmp.Or(d.Target, "bmv2"), Tables: map[string]int64{}})
		}
	}
	slices.SortFunc(v.Devices, func(a, b DeviceView) int { return cmp.Compare(a.Name, b.Name) })
	if st := p.cs; st != nil {
		v.Leader = st.GetLeader()
		for _, mb := range st.GetMembers() {
			v.Members = append(v.Members, MemberView{ID: mb.GetId(), Leader: mb.GetLeader(), Devices: mb.GetDevices(), Down: mb.GetDown()})
		}
	}
	// A cable seen both ways is one link.
	type end struct {
		dev  string
		port uint32
	}
	linkAt := map[[2]end]int{}
	for _, l := range tp.GetLinks() {
		a, b := end{l.GetADevice(), l.GetAPort()}, end{l.GetBDevice(), l.GetBPort()}
		if i, ok := linkAt[[2]end{b, a}]; ok {
			v.Links[i].BothWays = true
			v.Links[i].LastSeen = max(v.Links[i].LastSeen, l.GetLastSeenUnixMs())
			continue
		}
		linkAt[[2]end{a, b}] = len(v.Links)
		v.Links = append(v.Links, LinkView{A: a.dev, APort: a.port, B: b.dev, BPort: b.port, Source: l.GetSource(), LastSeen: l.GetLastSeenUnixMs()})
	}
	for _, h := range tp.GetHosts() {
		v.Hosts = append(v.Hosts, HostView{Host: cmp.Or(h.GetHost(), h.GetChassisId()), Device: h.GetDevice(), Port: h.GetPort(), Interface: h.GetInterface(),
			Source: h.GetSource(), LastSeen: h.GetLastSeenUnixMs()})
	}
	return v
}

func deviceView(m *model, d *p4ctlv1.DeviceStatus) DeviceView {
	v := DeviceView{Name: d.GetName(), Address: d.GetAddress(), Master: d.GetMaster(), MasterEpoch: d.GetMasterEpoch(), Connected: d.GetConnected(),
		Primary: d.GetPrimary(), InSync: d.GetInSync(), Tables: d.GetEntries(), LastError: d.GetLastError(), DenialLog: d.GetDenialLog(),
		ModelIndex: d.GetModelIndex(), WriteDone: d.GetWriteDone(), WriteTotal: d.GetWriteTotal(), Queued: d.GetQueued(), Reported: true, Target: "bmv2"}
	if md := m.devices[d.GetName()]; md != nil && md.Target != "" {
		v.Target = md.Target
	}
	if v.Tables == nil {
		v.Tables = map[string]int64{}
	}
	if d.GetPipelineCookie() != 0 {
		v.PipelineCookie = fmt.Sprintf("0x%016x", d.GetPipelineCookie())
	}
	for _, n := range v.Tables {
		v.Entries += n
	}
	return v
}

// TableView is one table of a device and its fill.
type TableView struct {
	Table   string  `json:"table"`
	Entries int64   `json:"entries"`
	Size    int64   `json:"size"` // 0: the P4Info does not say
	Fill    float64 `json:"fill"` // entries / size
}

// DeviceDetail is a device with its tables.
type DeviceDetail struct {
	DeviceView
	Tables []TableView `json:"tables"`
	// PipelineError says why the table sizes are unknown.
	PipelineError string `json:"pipeline_error,omitempty"`
}

func (c *Console) device(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("name")
	m, err := c.getModel(ctx)
	if err != nil {
		return nil, err
	}
	md, ok := m.devices[name]
	if !ok {
		return nil, notFound("device %q: not in the model (%s)", name, m.deviceNames())
	}
	ds, err := c.o.API.Devices(ctx, &p4ctlv1.DevicesRequest{FromLeader: true})
	if err != nil {
		return nil, err
	}
	v := DeviceView{Name: name, Address: md.Address, Target: cmp.Or(md.Target, "bmv2"), Tables: map[string]int64{}}
	for _, d := range ds.GetDevices() {
		if d.GetName() == name {
			v = deviceView(m, d)
		}
	}
	out := DeviceDetail{DeviceView: v, Tables: []TableView{}}
	p, err := c.o.Pipeline(v.Target)
	if err != nil {
		out.PipelineError = err.Error()
		for _, t := range slices.Sorted(maps.Keys(v.Tables)) {
			out.Tables = append(out.Tables, TableView{Table: t, Entries: v.Tables[t]})
		}
		return out, nil
	}
	for _, t := range p.Info.Tables() {
		tv := TableView{Table: t.Name, Entries: v.Tables[t.Name], Size: t.Size}
		if t.Size > 0 {
			tv.Fill = float64(tv.Entries) / float64(t.Size)
		}
		out.Tables = append(out.Tables, tv)
	}
	return out, nil
}

// SegmentsView is the segments page.
type SegmentsView struct {
	Revision uint64        `json:"revision"`
	Segments []SegmentView `json:"segments"`
}

func (c *Console) segments(ctx context.Context, _ *http.Request) (any, error) {
	m, err := c.getModel(ctx)
	if err != nil {
		return nil, err
	}
	return SegmentsView{Revision: m.index, Segments: orEmpty(segmentViews(m))}, nil
}

// TraceView is a trace's answer and the packet traced.
type TraceView struct {
	Packet  TracePacket `json:"packet"`
	Verdict string      `json:"verdict"`
	Reason  string      `json:"reason"`
	Policy  string      `json:"policy"`
	Ports   []uint32    `json:"ports"`
	Entries []TraceHit  `json:"entries"`
	// For a matrix cell: what the matrix says, and whether the trace
	// agrees (a PVLAN role or an ACL can stop what the policy allows).
	Expected *Decision `json:"expected,omitempty"`
	Agrees   *bool     `json:"agrees,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// TracePacket is the packet a trace followed.
type TracePacket struct {
	Device   string `json:"device"`
	InPort   uint32 `json:"in_port"`
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Proto    string `json:"proto"`
	Sport    uint32 `json:"sport"`
	Dport    uint32 `json:"dport"`
	TCPFlags uint32 `json:"tcp_flags"`
	SrcEP    string `json:"src_endpoint,omitempty"`
	DstEP    string `json:"dst_endpoint,omitempty"`
}

// TraceHit is one entry a traced packet hit.
type TraceHit struct {
	Table string   `json:"table"`
	Entry string   `json:"entry"`
	From  []string `json:"from"`
}

func (c *Console) runTrace(ctx context.Context, p TracePacket) (*TraceView, error) {
	resp, err := c.o.API.Trace(ctx, &p4ctlv1.TraceRequest{Device: p.Device, InPort: p.InPort, Src: p.Src, Dst: p.Dst, Proto: p.Proto,
		Sport: p.Sport, Dport: p.Dport, TcpFlags: p.TCPFlags})
	if err != nil {
		return nil, err
	}
	v := &TraceView{Packet: p, Verdict: resp.GetVerdict(), Reason: resp.GetReason(), Policy: resp.GetPolicy(), Ports: orEmpty(resp.GetPorts()),
		Entries: []TraceHit{}}
	for _, h := range resp.GetEntries() {
		v.Entries = append(v.Entries, TraceHit{Table: h.GetTable(), Entry: h.GetEntry(), From: orEmpty(h.GetFrom())})
	}
	return v, nil
}

// trace is a trace of any packet: device, in_port, src, dst, proto,
// sport, dport, tcp_flags as p4ctl trace takes them.
func (c *Console) trace(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	p := TracePacket{Device: q.Get("device"), Src: q.Get("src"), Dst: q.Get("dst"), Proto: cmp.Or(q.Get("proto"), "tcp")}
	if p.Device == "" || p.Src == "" || p.Dst == "" {
		return nil, badRequest("trace needs device, in_port, src and dst")
	}
	for _, f := range []struct {
		name string
		max  uint64
		out  *uint32
	}{{"in_port", 1<<32 - 1, &p.InPort}, {"sport", 65535, &p.Sport}, {"dport", 65535, &p.Dport}, {"tcp_flags", 255, &p.TCPFlags}} {
		s := q.Get(f.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil || n > f.max {
			return nil, badRequest("%s %q: want a number 0-%d", f.name, s, f.max)
		}
		*f.out = uint32(n)
	}
	return c.runTrace(ctx, p)
}

// cellTrace traces a packet of one matrix cell: from an endpoint of
// identity from to one of identity to, of one service.
func (c *Console) cellTrace(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	m, err := c.getModel(ctx)
	if err != nil {
		return nil, err
	}
	seg, ok := m.segments[r.PathValue("name")]
	if !ok {
		return nil, notFound("segment %q: not in the model", r.PathValue("name"))
	}
	sv := segmentView(m, seg)
	find := func(param string) (int, error) {
		k := q.Get(param)
		for i, id := range sv.Identities {
			if id.Key == k {
				return i, nil
			}
		}
		return 0, badRequest("%s %q: no identity of segment %s has these labels", param, k, seg.Name)
	}
	fi, err := find("from")
	if err != nil {
		return nil, err
	}
	ti, err := find("to")
	if err != nil {
		return nil, err
	}
	si := slices.IndexFunc(sv.Services, func(s Service) bool { return s.Label == q.Get("service") })
	if si < 0 {
		var ls []string
		for _, s := range sv.Services {
			ls = append(ls, s.Label)
		}
		return nil, badRequest("service %q: not a column of segment %s (%s)", q.Get("service"), seg.Name, strings.Join(ls, ", "))
	}
	svc := sv.Services[si]
	var exp *Decision
	if !sv.Truncated {
		d := sv.Matrix[fi*len(sv.Identities)+ti].Decisions[si]
		exp = &d
	}
	pkt, note, err := c.cellPacket(ctx, m, sv.Identities[fi], sv.Identities[ti], svc)
	if err != nil {
		return nil, err
	}
	v, err := c.runTrace(ctx, pkt)
	if err != nil {
		return nil, err
	}
	v.Note = note
	if exp != nil {
		v.Expected = exp
		agrees := v.Verdict == exp.Verdict && (exp.Default || v.Policy == exp.Policy)
		v.Agrees = &agrees
	}
	return v, nil
}

// cellPacket picks a packet for a cell: from the first placed endpoint
// of identity a, to an endpoint of b with an address of the same family
// (another endpoint than the source where b has one).
func (c *Console) cellPacket(ctx context.Context, m *model, a, b Identity, svc Service) (TracePacket, string, error) {
	placement := map[string][2]string{}
	needPlacement := false
	for _, n := range a.Endpoints {
		needPlacement = needPlacement || m.endpoints[n].Device == ""
	}
	if needPlacement {
		if tp, err := c.o.API.Topology(ctx, &p4ctlv1.TopologyRequest{FromLeader: true}); err == nil {
			for _, p := range tp.GetPlacements() {
				if p.GetDevice() != "" {
					placement[p.GetEndpoint()] = [2]string{p.GetDevice(), strconv.Itoa(int(p.GetPort()))}
				}
			}
		}
	}
	wantV6 := map[int]int{policy.ProtoICMP: 4, policy.ProtoICMPv6: 6}[svc.Proto]
	for _, sn := range a.Endpoints {
		src := m.endpoints[sn]
		dev, port := src.Device, src.Port
		if dev == "" {
			pl, ok := placement[sn]
			if !ok {
				continue
			}
			n, _ := strconv.Atoi(pl[1])
			dev, port = pl[0], uint32(n)
		}
		for _, fam := range []int{4, 6} {
			if wantV6 != 0 && fam != wantV6 {
				continue
			}
			sip, ok := addrOf(src, fam)
			if !ok {
				continue
			}
			var dst *policy.Endpoint
			var dip netip.Addr
			for _, dn := range b.Endpoints {
				if ip, ok := addrOf(m.endpoints[dn], fam); ok && (dst == nil || dst.Name == sn) {
					dst, dip = m.endpoints[dn], ip
				}
			}
			if dst == nil {
				continue
			}
			p := TracePacket{Device: dev, InPort: port, Src: sip.String(), Dst: dip.String(), Proto: policy.ProtoName(svc.Proto),
				Sport: evalSport, Dport: uint32(svc.Port), SrcEP: sn, DstEP: dst.Name}
			if svc.Proto == policy.ProtoTCP {
				p.TCPFlags = 0x02 // SYN: a new connection, not a reply
			}
			if svc.Proto != policy.ProtoTCP && svc.Proto != policy.ProtoUDP {
				p.Sport, p.Dport = 0, 0
			}
			note := ""
			if dst.Name == sn {
				note = "the identity has one endpoint: the packet is traced to itself, which no port delivers"
			}
			if svc.Lo != svc.Hi {
				note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("the range %d-%d is traced at its first port", svc.Lo, svc.Hi)
			}
			return p, note, nil
		}
	}
	return TracePacket{}, "", badRequest("no packet to trace from %s to %s for %s: no placed endpoint of the first with an address family (IPv4 or IPv6) the second has", a.Key, b.Key, svc.Label)
}

func addrOf(e *policy.Endpoint, fam int) (netip.Addr, bool) {
	for _, ip := range e.IPs {
		if (fam == 4) == ip.Is4() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// CountersView are the policy hit counters per device and policy.
type CountersView struct {
	Node    string               `json:"node"`
	Devices []DeviceCountersView `json:"devices"`
}

// DeviceCountersView is one device's counters.
type DeviceCountersView struct {
	Device       string               `json:"device"`
	ReadAt       int64                `json:"read_at_unix_ms"`
	Resets       uint64               `json:"resets"`
	LastReset    int64                `json:"last_reset_unix_ms"`
	ResetEntries int64                `json:"reset_entries"`
	Error        string               `json:"error"`
	Policies     []PolicyCountersView `json:"policies"`
}

// PolicyCountersView is one policy's hits on a device.
type PolicyCountersView struct {
	Policy  string `json:"policy"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// counters are the policy hit counters (device, policy: only those; refresh=1:
// read from the switches now, a P4Runtime read).
func (c *Console) counters(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	if d := q.Get("device"); d != "" {
		m, err := c.getKind(ctx, "Device")
		if err != nil {
			return nil, err
		}
		if _, ok := m.devices[d]; !ok {
			return nil, notFound("device %q: not in the model (%s)", d, m.deviceNames())
		}
	}
	v, err := c.countersView(ctx, q.Get("device"), q.Get("policy"), q.Get("refresh") == "1")
	if err == nil && q.Get("refresh") == "1" {
		c.hub.readCountersNow() // the open counters streams get what was read
	}
	return v, err
}

func (c *Console) countersView(ctx context.Context, device, pol string, refresh bool) (*CountersView, error) {
	resp, err := c.o.API.Counters(ctx, &p4ctlv1.CountersRequest{Device: device, Policy: pol, Refresh: refresh})
	if err != nil {
		return nil, err
	}
	v := &CountersView{Node: resp.GetNode(), Devices: []DeviceCountersView{}}
	for _, d := range resp.GetDevices() {
		dv := DeviceCountersView{Device: d.GetDevice(), ReadAt: d.GetReadAtUnixMs(), Resets: d.GetResets(), LastReset: d.GetLastResetUnixMs(),
			ResetEntries: d.GetResetEntries(), Error: d.GetError(), Policies: []PolicyCountersView{}}
		for _, p := range d.GetPolicies() {
			dv.Policies = append(dv.Policies, PolicyCountersView{Policy: p.GetPolicy(), Packets: p.GetPackets(), Bytes: p.GetBytes()})
		}
		v.Devices = append(v.Devices, dv)
	}
	slices.SortFunc(v.Devices, func(a, b DeviceCountersView) int { return cmp.Compare(a.Device, b.Device) })
	return v, nil
}

// HistoryView is the committed changes, newest first.
type HistoryView struct {
	Revisions []RevisionView `json:"revisions"`
}

// RevisionView is one committed change.
type RevisionView struct {
	Index   uint64   `json:"index"`
	Time    int64    `json:"time_unix_ms"`
	Client  string   `json:"client"`
	Summary string   `json:"summary"`
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

func (c *Console) history(ctx context.Context, _ *http.Request) (any, error) {
	resp, err := c.o.API.History(ctx, &p4ctlv1.HistoryRequest{})
	if err != nil {
		return nil, err
	}
	v := HistoryView{Revisions: []RevisionView{}}
	revs := resp.GetRevisions()
	for i := len(revs) - 1; i >= 0; i-- {
		r := revs[i]
		v.Revisions = append(v.Revisions, RevisionView{Index: r.GetIndex(), Time: r.GetTimeUnixNano() / 1e6, Client: r.GetClient(), Summary: r.GetSummary(),
			Added: orEmpty(r.GetAdded()), Changed: orEmpty(r.GetChanged()), Removed: orEmpty(r.GetRemoved())})
	}
	return v, nil
}
