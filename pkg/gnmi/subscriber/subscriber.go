package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	Connected    EventKind = iota // a subscription is up (Encoding says in what)
	Disconnected                  // it went down (Err says why); the subscriber retries
	Synced                        // the target sent everything it had (sync_response)
	PortState                     // Interface's oper status (Oper)
	PortID                        // Interface's P4Runtime port (ID)
	PortCounters                  // Interface's counters (Counters)
	Neighbor                      // an LLDP neighbor on Interface, added or changed (Neighbor)
	NeighborGone                  // an LLDP neighbor on Interface is gone (Neighbor.ID)
)

// NeighborInfo is an LLDP neighbor as a device reports it over gNMI.
type NeighborInfo struct {
	ID                       string // the list key
	ChassisID, ChassisIDType string
	PortID, PortIDType       string
	SystemName               string
	PortDescription          string
	TTL                      time.Duration
}

// Counters are an interface's counters, as OpenConfig's
// interfaces/interface/state/counters names them.
type Counters struct {
	InOctets, InPkts, InErrors, InDiscards     uint64
	OutOctets, OutPkts, OutErrors, OutDiscards uint64
}

// Event is one thing learned from a device.
type Event struct {
	Device    string
	Kind      EventKind
	Interface string
	Oper      string // UP, DOWN, LOWER_LAYER_DOWN, ...
	ID        uint32
	Counters  Counters
	Neighbor  NeighborInfo
	Encoding  gpb.Encoding
	Err       error
}

// Subscriber streams port state, P4 port ids, counters and LLDP
// neighbors from one device's gNMI server, reconnecting with backoff.
//
// A Subscriber is its configuration: set the fields before calling Run and
// do not change them while it runs (Run reads them and never writes them).
// Run blocks until ctx ends and calls emit synchronously on the goroutine
// that called Run, one event at a time and never after Run has returned;
// while emit runs nothing more is read from the device, so a slow emit
// holds the subscription back (the subscriber holds at most one
// notification's events and drops none). It has no channels of its own.
type Subscriber struct {
	Device string
	Addr   string
	// Dial are extra gRPC options (TLS credentials; plaintext otherwise).
	Dial []grpc.DialOption
	// Target is the prefix target sent (default none: the server's own).
	Target string
	// SampleInterval is how often counters are sampled (default 10s).
	SampleInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts (default
	// 100ms and 30s); the wait doubles per failure, with jitter, and
	// starts over once a subscription stayed up for a minute.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Run subscribes until ctx ends, calling emit from the calling goroutine
// (see Subscriber). It returns nil once ctx ends, and an error only when it
// cannot make a gRPC client for Addr, before any event; a failed or lost
// subscription is emitted as Disconnected and retried.
func (s *Subscriber) Run(ctx context.Context, emit func(Event)) error {
	minB, maxB := s.MinBackoff, s.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB < minB {
		maxB = max(30*time.Second, minB)
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := s.Dial
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(s.Addr, opts...)
	if err != nil {
		return fmt.Errorf("device %s: gnmi %s: %w", s.Device, s.Addr, err)
	}
	defer conn.Close()
	c := gpb.NewGNMIClient(conn)
	backoff := minB
	for ctx.Err() == nil {
		start := time.Now()
		err := s.once(ctx, c, emit)
		if ctx.Err() != nil {
			return nil
		}
		emit(Event{Device: s.Device, Kind: Disconnected, Err: err})
		if time.Since(start) > time.Minute {
			backoff = minB
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		log.Warn("gnmi subscription down", "device", s.Device, "addr", s.Addr, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxB)
	}
	return nil
}

// encodingFor picks what to ask a target for: JSON_IETF, else JSON, else
// PROTO (Stratum answers in PROTO only), from its Capabilities.
func encodingFor(caps *gpb.CapabilityResponse) (gpb.Encoding, error) {
	for _, want := range []gpb.Encoding{gpb.Encoding_JSON_IETF, gpb.Encoding_JSON, gpb.Encoding_PROTO} {
		for _, e := range caps.GetSupportedEncodings() {
			if e == want {
				return want, nil
			}
		}
	}
	return 0, fmt.Errorf("the target supports none of JSON_IETF, JSON, PROTO (it offers %v)", caps.GetSupportedEncodings())
}

func (s *Subscriber) once(ctx context.Context, c gpb.GNMIClient, emit func(Event)) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	caps, err := c.Capabilities(cctx, &gpb.CapabilityRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	enc, err := encodingFor(caps)
	if err != nil {
		return err
	}
	sample := s.SampleInterval
	if sample <= 0 {
		sample = 10 * time.Second
	}
	path := func(elems ...string) *gpb.Path {
		p := &gpb.Path{}
		for _, e := range elems {
			p.Elem = append(p.Elem, &gpb.PathElem{Name: e})
		}
		return p
	}
	sl := &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Encoding: enc, Subscription: []*gpb.Subscription{
		{Path: path("interfaces", "interface", "state", "oper-status"), Mode: gpb.SubscriptionMode_ON_CHANGE},
		{Path: path("interfaces", "interface", "state", "id"), Mode: gpb.SubscriptionMode_ON_CHANGE},
		{Path: path("interfaces", "interface", "state", "counters"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(sample)},
		{Path: path("lldp", "interfaces", "interface", "neighbors"), Mode: gpb.SubscriptionMode_ON_CHANGE},
	}}
	if s.Target != "" {
		sl.Prefix = &gpb.Path{Target: s.Target}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Subscribe(sctx)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := stream.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: sl}}); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	emit(Event{Device: s.Device, Kind: Connected, Encoding: enc})
	d := newDecoder(s.Device)
	for {
		r, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
		if r.GetSyncResponse() {
			emit(Event{Device: s.Device, Kind: Synced})
			continue
		}
		for _, e := range d.notification(r.GetUpdate()) {
			emit(e)
		}
	}
}

// decoder turns notifications into events, keeping the counters and
// neighbors it has seen so that each event carries the whole record.
type decoder struct {
	device    string
	counters  map[string]*Counters
	neighbors map[string]map[string]*NeighborInfo // interface -> id -> neighbor
}

func newDecoder(device string) *decoder {
	return &decoder{device: device, counters: map[string]*Counters{}, neighbors: map[string]map[string]*NeighborInfo{}}
}

// leaf is one value at a path given as names and keys.
type leaf struct {
	elems []*gpb.PathElem
	val   any // string, float64 (JSON numbers), uint64, int64, bool
}

func (d *decoder) notification(n *gpb.Notification) []Event {
	var leaves []leaf
	for _, u := range n.GetUpdate() {
		full := append(append([]*gpb.PathElem{}, n.GetPrefix().GetElem()...), u.GetPath().GetElem()...)
		leaves = append(leaves, flatten(full, u.GetVal())...)
	}
	var out []Event
	touchedCounters := map[string]bool{}
	touchedNeighbors := map[[2]string]bool{}
	for _, l := range leaves {
		names := make([]string, len(l.elems))
		for i, e := range l.elems {
			names[i] = e.GetName()
		}
		at := strings.Join(names, "/")
		switch {
		case at == "interfaces/interface/state/oper-status":
			out = append(out, Event{Device: d.device, Kind: PortState, Interface: key(l.elems[1], "name"), Oper: ident(l.val)})
		case at == "interfaces/interface/state/id":
			if v, ok := num(l.val); ok && v <= 1<<32-1 {
				out = append(out, Event{Device: d.device, Kind: PortID, Interface: key(l.elems[1], "name"), ID: uint32(v)})
			}
		case strings.HasPrefix(at, "interfaces/interface/state/counters/") && len(names) == 5:
			ifn := key(l.elems[1], "name")
			c := d.counters[ifn]
			if c == nil {
				c = &Counters{}
				d.counters[ifn] = c
			}
			v, _ := num(l.val)
			switch names[4] {
			case "in-octets":
				c.InOctets = v
			case "out-octets":
				c.OutOctets = v
			case "in-pkts":
				c.InPkts = v
			case "out-pkts":
				c.OutPkts = v
			case "in-errors":
				c.InErrors = v
			case "out-errors":
				c.OutErrors = v
			case "in-discards":
				c.InDiscards = v
			case "out-discards":
				c.OutDiscards = v
			}
			touchedCounters[ifn] = true
		case strings.HasPrefix(at, "lldp/interfaces/interface/neighbors/neighbor/state/") && len(names) == 7:
			ifn, id := key(l.elems[2], "name"), key(l.elems[4], "id")
			nb := d.neighbor(ifn, id)
			switch names[6] {
			case "chassis-id":
				nb.ChassisID = str(l.val)
			case "chassis-id-type":
				nb.ChassisIDType = ident(l.val)
			case "port-id":
				nb.PortID = str(l.val)
			case "port-id-type":
				nb.PortIDType = ident(l.val)
			case "system-name":
				nb.SystemName = str(l.val)
			case "port-description":
				nb.PortDescription = str(l.val)
			case "ttl":
				v, _ := num(l.val)
				nb.TTL = time.Duration(v) * time.Second
			}
			touchedNeighbors[[2]string{ifn, id}] = true
		}
	}
	for ifn := range touchedCounters {
		out = append(out, Event{Device: d.device, Kind: PortCounters, Interface: ifn, Counters: *d.counters[ifn]})
	}
	for k := range touchedNeighbors {
		out = append(out, Event{Device: d.device, Kind: Neighbor, Interface: k[0], Neighbor: *d.neighbors[k[0]][k[1]]})
	}
	for _, del := range n.GetDelete() {
		full := append(append([]*gpb.PathElem{}, n.GetPrefix().GetElem()...), del.GetElem()...)
		out = append(out, d.deleted(full)...)
	}
	return out
}

func (d *decoder) neighbor(ifn, id string) *NeighborInfo {
	if d.neighbors[ifn] == nil {
		d.neighbors[ifn] = map[string]*NeighborInfo{}
	}
	nb := d.neighbors[ifn][id]
	if nb == nil {
		nb = &NeighborInfo{ID: id}
		d.neighbors[ifn][id] = nb
	}
	return nb
}

// deleted reports the neighbors a delete removes: one neighbor (or a leaf
// of it: the neighbor is gone when its state goes), or all of an
// interface's.
func (d *decoder) deleted(full []*gpb.PathElem) []Event {
	if len(full) < 3 || full[0].GetName() != "lldp" || full[1].GetName() != "interfaces" || full[2].GetName() != "interface" {
		return nil
	}
	ifn := key(full[2], "name")
	var ids []string
	if len(full) >= 5 && full[4].GetName() == "neighbor" && key(full[4], "id") != "" && key(full[4], "id") != "*" {
		ids = []string{key(full[4], "id")}
	} else {
		for id := range d.neighbors[ifn] {
			ids = append(ids, id)
		}
	}
	var out []Event
	for _, id := range ids {
		if _, ok := d.neighbors[ifn][id]; ok {
			delete(d.neighbors[ifn], id)
			out = append(out, Event{Device: d.device, Kind: NeighborGone, Interface: ifn, Neighbor: NeighborInfo{ID: id}})
		}
	}
	return out
}

// flatten turns one update into leaves: a scalar as is, a JSON object (a
// target that sends a container as one blob) into its leaves, with list
// entries keyed by their key leaves ("name", "id", "index").
func flatten(at []*gpb.PathElem, tv *gpb.TypedValue) []leaf {
	var raw []byte
	switch v := tv.GetValue().(type) {
	case *gpb.TypedValue_JsonIetfVal:
		raw = v.JsonIetfVal
	case *gpb.TypedValue_JsonVal:
		raw = v.JsonVal
	case *gpb.TypedValue_StringVal:
		return []leaf{{at, v.StringVal}}
	case *gpb.TypedValue_UintVal:
		return []leaf{{at, v.UintVal}}
	case *gpb.TypedValue_IntVal:
		return []leaf{{at, v.IntVal}}
	case *gpb.TypedValue_BoolVal:
		return []leaf{{at, v.BoolVal}}
	default:
		return nil
	}
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil
	}
	var out []leaf
	var walk func(at []*gpb.PathElem, x any)
	walk = func(at []*gpb.PathElem, x any) {
		switch v := x.(type) {
		case map[string]any:
			for k, child := range v {
				if _, name, ok := strings.Cut(k, ":"); ok {
					k = name // RFC 7951 module-qualified member
				}
				next := append(append([]*gpb.PathElem{}, at...), &gpb.PathElem{Name: k})
				if list, ok := child.([]any); ok && isEntryList(list) {
					for _, entry := range list {
						m := entry.(map[string]any)
						e := &gpb.PathElem{Name: k, Key: listKeys(m)}
						walk(append(append([]*gpb.PathElem{}, at...), e), m)
					}
					continue
				}
				walk(next, child)
			}
		default:
			out = append(out, leaf{at, v})
		}
	}
	walk(at, x)
	return out
}

func isEntryList(l []any) bool {
	for _, e := range l {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return len(l) > 0
}

func listKeys(m map[string]any) map[string]string {
	keys := map[string]string{}
	for _, k := range []string{"name", "id", "index"} {
		if v, ok := m[k]; ok {
			keys[k] = str(v)
		}
	}
	return keys
}

func key(e *gpb.PathElem, k string) string { return e.GetKey()[k] }

// str renders a leaf value as text.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// ident renders an enumeration or identity leaf without the module
// prefix RFC 7951 gives identities ("iana-if-type:ethernetCsmacd").
func ident(v any) string {
	s := str(v)
	if _, name, ok := strings.Cut(s, ":"); ok {
		return name
	}
	return s
}

// num reads a leaf as an unsigned number: JSON numbers, RFC 7951's
// strings for 64-bit values, or typed integers.
func num(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case int64:
		return uint64(x), x >= 0
	case float64:
		return uint64(x), x >= 0
	case string:
		n, err := strconv.ParseUint(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}
