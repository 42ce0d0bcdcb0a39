package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openconfig/gnmi/cache"
	"github.com/openconfig/gnmi/ctree"
	"github.com/openconfig/gnmi/path"
	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/gnmi/subscribe"
	"github.com/openconfig/gnmi/value"
	"github.com/openconfig/goyang/pkg/yang"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/gnmi/oc"
	"github.com/p4ctl/p4ctl/pkg/lldp"
)

// NeighborSource is where the agent reads LLDP neighbors: an lldp.Table.
//
// The agent calls both methods from its Run goroutine while the source is
// updated elsewhere, so an implementation must be safe for concurrent use.
type NeighborSource interface {
	// Neighbors returns the neighbors now; the agent reads it on every
	// refresh.
	Neighbors() []lldp.Neighbor
	// Changes is called once, when Run starts; Run then receives from the
	// channel and reads Neighbors again after each value. The source should
	// send without blocking, coalescing (lldp.Table's channel has a buffer
	// of one and drops a signal while one is pending), and must not close
	// the channel: a closed channel would have Run re-render without pause.
	// The agent should be its only receiver, or signals taken by another
	// are missed until the next counter read.
	Changes() <-chan struct{}
}

// Config configures an Agent.
type Config struct {
	// Target is the name clients give as the prefix's target (default:
	// the host name). A request without a target means this one.
	Target string
	Source LinkSource
	// Interfaces selects the interfaces served (nil: all).
	Interfaces *regexp.Regexp
	// Ports maps interface names to P4Runtime port numbers (a BMv2
	// switch's port map), served as state/id. When given, only these
	// interfaces are served.
	Ports map[string]uint32
	// Neighbors and Local, when set, serve OpenConfig LLDP.
	Neighbors NeighborSource
	Local     *LocalSystem
	// CounterInterval is how often counters are read (default 1s); link
	// state changes are pushed as netlink reports them, not polled.
	CounterInterval time.Duration
	// MinSampleInterval is the shortest SAMPLE interval granted (default
	// 100ms); SAMPLE without an interval gets CounterInterval.
	MinSampleInterval time.Duration
	Logger            *slog.Logger
}

// Agent is a gNMI server of one system's interfaces and LLDP neighbors.
//
// Run must be called at most once (a second call panics), on a goroutine of
// its own: it blocks until ctx ends (returning nil), its first rendering
// fails, or the link source's Watch returns before ctx ends (an error), and
// it alone reads the sources and updates what is served. Serve may be
// called from any goroutine, before or while Run runs, and more than once
// (each call has its own gRPC server); it blocks until ctx ends or lis
// fails, and after Run has returned it goes on serving the last state. The
// gNMI methods (Capabilities, Get, Set, Subscribe) are called by gRPC on
// its goroutines, concurrently with each other and with Run; Get and
// Subscribe block until the first rendering or the end of their request's
// context. Ready may be called from any goroutine; its channel is
// unbuffered, never sent on, and closed once, after Run's first rendering
// (never, if that fails or Run is not called). A slow client does not
// block Run: openconfig/gnmi's subscribe server queues ON_CHANGE updates
// per client, coalescing, and each STREAM with SAMPLE or heartbeats gets
// changes through a buffer of 1024 notifications, dropping for that stream
// what does not fit (its members with a sample or heartbeat interval send
// the values again when that comes round).
type Agent struct {
	gpb.UnimplementedGNMIServer

	cfg   Config
	log   *slog.Logger
	cache *cache.Cache
	sub   *subscribe.Server

	mu     sync.Mutex             // serializes refresh
	leaves map[string]*gpb.Update // the last rendering, by path
	ready  chan struct{}          // closed after the first rendering

	subsMu sync.Mutex // guards subs; taken inside cache updates, so never held around them
	subs   map[chan *gpb.Notification]struct{}
}

// New returns an agent; Run feeds it and Serve serves it.
func New(cfg Config) (*Agent, error) {
	if cfg.Source == nil {
		return nil, errors.New("gnmi agent: no link source")
	}
	if cfg.Target == "" {
		cfg.Target, _ = os.Hostname()
	}
	if cfg.CounterInterval <= 0 {
		cfg.CounterInterval = time.Second
	}
	if cfg.MinSampleInterval <= 0 {
		cfg.MinSampleInterval = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, log: log, leaves: map[string]*gpb.Update{}, ready: make(chan struct{}), subs: map[chan *gpb.Notification]struct{}{}}
	a.cache = cache.New(nil)
	sub, err := subscribe.NewServer(a.cache)
	if err != nil {
		return nil, err
	}
	a.sub = sub
	a.cache.SetClient(func(l *ctree.Leaf) {
		sub.Update(l)
		if n, ok := l.Value().(*gpb.Notification); ok {
			a.fanout(n)
		}
	})
	a.cache.Add(cfg.Target)
	return a, nil
}

// Run reads the interfaces, then follows link changes (netlink events),
// neighbor changes and counters until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.refresh(); err != nil {
		return err
	}
	a.cache.Sync(a.cfg.Target)
	close(a.ready)
	changed := make(chan struct{}, 1)
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- a.cfg.Source.Watch(ctx, func(string) {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	var neighbors <-chan struct{}
	if a.cfg.Neighbors != nil {
		neighbors = a.cfg.Neighbors.Changes()
	}
	counters := time.NewTicker(a.cfg.CounterInterval)
	defer counters.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("gnmi agent: %w", err)
		case <-changed:
		case <-neighbors:
		case <-counters.C:
		}
		if err := a.refresh(); err != nil {
			a.log.Warn("gnmi agent: read interfaces", "err", err)
		}
	}
}

// Ready is closed once the agent has read the interfaces once. It is safe
// to call from any goroutine.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// refresh renders the current state and sends the cache what changed.
func (a *Agent) refresh() error {
	links, err := a.cfg.Source.Links()
	if err != nil {
		return err
	}
	links = slices.DeleteFunc(links, func(l Link) bool {
		if a.cfg.Ports != nil {
			_, ok := a.cfg.Ports[l.Name]
			return !ok
		}
		return a.cfg.Interfaces != nil && !a.cfg.Interfaces.MatchString(l.Name)
	})
	var neighbors []lldp.Neighbor
	if a.cfg.Neighbors != nil {
		neighbors = a.cfg.Neighbors.Neighbors()
	}
	now := time.Now()
	cur, err := leaves(render(links, a.cfg.Ports, a.cfg.Local, neighbors, now))
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n := &gpb.Notification{Timestamp: now.UnixNano(), Prefix: &gpb.Path{Target: a.cfg.Target}}
	for k, u := range cur {
		if old, ok := a.leaves[k]; !ok || !value.Equal(old.GetVal(), u.GetVal()) {
			n.Update = append(n.Update, u)
		}
	}
	for k, u := range a.leaves {
		if _, ok := cur[k]; !ok {
			n.Delete = append(n.Delete, u.GetPath())
		}
	}
	a.leaves = cur
	if len(n.Update)+len(n.Delete) == 0 {
		return nil
	}
	// LLDP ages move every second; they are not worth a change alone.
	return a.cache.GnmiUpdate(n)
}

// ---- gNMI service ---------------------------------------------------------

// Serve serves the gNMI service on lis until ctx ends.
func (a *Agent) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	gs := grpc.NewServer(opts...)
	gpb.RegisterGNMIServer(gs, a)
	go func() {
		<-ctx.Done()
		gs.Stop() // streams are long-lived: do not wait for them
	}()
	if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// gnmiVersion is the gNMI specification version of the proto the agent
// is built with (github.com/openconfig/gnmi v0.14.1's gnmi.proto).
const gnmiVersion = "0.10.0"

// Capabilities reports the OpenConfig modules served and the encodings.
func (a *Agent) Capabilities(context.Context, *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	return &gpb.CapabilityResponse{SupportedModels: oc.ΓModelData,
		SupportedEncodings: []gpb.Encoding{gpb.Encoding_JSON_IETF, gpb.Encoding_JSON, gpb.Encoding_PROTO}, GNMIVersion: gnmiVersion}, nil
}

// Set is not offered: the agent reports state, it configures nothing.
func (a *Agent) Set(context.Context, *gpb.SetRequest) (*gpb.SetResponse, error) {
	return nil, status.Error(codes.Unimplemented, "p4ctl agent: Set is not supported: the agent serves interface and LLDP state read-only")
}

// target returns the request's target, defaulting to the agent's.
func (a *Agent) target(prefix *gpb.Path) (string, error) {
	t := prefix.GetTarget()
	if t == "" || t == a.cfg.Target {
		return a.cfg.Target, nil
	}
	return "", status.Errorf(codes.NotFound, "no target %q here (this agent serves %q)", t, a.cfg.Target)
}

// Get answers from the agent's current state, one update per leaf.
func (a *Agent) Get(ctx context.Context, req *gpb.GetRequest) (*gpb.GetResponse, error) {
	select {
	case <-a.ready:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	enc := req.GetEncoding()
	if enc != gpb.Encoding_JSON_IETF && enc != gpb.Encoding_JSON && enc != gpb.Encoding_PROTO {
		return nil, status.Errorf(codes.Unimplemented, "encoding %s is not supported (JSON_IETF, JSON, PROTO)", enc)
	}
	if req.GetType() != gpb.GetRequest_ALL && req.GetType() != gpb.GetRequest_STATE && req.GetType() != gpb.GetRequest_OPERATIONAL {
		return nil, status.Errorf(codes.Unimplemented, "data type %s: the agent serves state only", req.GetType())
	}
	target, err := a.target(req.GetPrefix())
	if err != nil {
		return nil, err
	}
	resp := &gpb.GetResponse{}
	for _, p := range req.GetPath() {
		p = withListWildcards(req.GetPrefix(), p)
		full, err := path.CompletePath(req.GetPrefix(), p)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "path %v: %v", p, err)
		}
		if err := checkPath(req.GetPrefix(), p); err != nil {
			return nil, err
		}
		n := &gpb.Notification{Timestamp: time.Now().UnixNano(), Prefix: &gpb.Path{Target: target}}
		err = a.cache.Query(target, full, func(_ []string, l *ctree.Leaf, v any) error {
			cn, ok := v.(*gpb.Notification)
			if !ok {
				return nil
			}
			for _, u := range cn.GetUpdate() {
				full := joinPath(cn.GetPrefix(), u.GetPath())
				val, err := encode(full, u.GetVal(), enc)
				if err != nil {
					return err
				}
				n.Update = append(n.Update, &gpb.Update{Path: full, Val: val})
			}
			return nil
		})
		if err != nil {
			return nil, status.Errorf(codes.Internal, "path %s: %v", strings.Join(full, "/"), err)
		}
		if len(n.Update) == 0 {
			return nil, status.Errorf(codes.NotFound, "nothing at /%s", strings.Join(full, "/"))
		}
		slices.SortFunc(n.Update, func(x, y *gpb.Update) int { return strings.Compare(pathKey(x.GetPath()), pathKey(y.GetPath())) })
		resp.Notification = append(resp.Notification, n)
	}
	return resp, nil
}

func joinPath(prefix, p *gpb.Path) *gpb.Path {
	return &gpb.Path{Elem: append(slices.Clone(prefix.GetElem()), p.GetElem()...)}
}

// identityModule maps identity names to the module defining them, for
// RFC 7951's "module:identity" form.
var identityModule = func() map[string]string {
	m := map[string]string{}
	for _, defs := range oc.ΛEnum {
		for _, d := range defs {
			if d.DefiningModule != "" {
				m[d.Name] = d.DefiningModule
			}
		}
	}
	return m
}()

// encode renders leaf value tv at full in the requested encoding. For
// JSON_IETF it follows RFC 7951 by the leaf's YANG type: 64-bit integers
// and decimals as strings, identities as "module:name".
func encode(full *gpb.Path, tv *gpb.TypedValue, enc gpb.Encoding) (*gpb.TypedValue, error) {
	if enc == gpb.Encoding_PROTO {
		return tv, nil
	}
	v, err := value.ToScalar(tv)
	if err != nil {
		return nil, err
	}
	if enc == gpb.Encoding_JSON_IETF {
		if e, _ := lookup(full.GetElem()); e != nil && e.Type != nil {
			switch e.Type.Kind {
			case yang.Yint64, yang.Yuint64, yang.Ydecimal64:
				v = fmt.Sprint(v)
			case yang.Yidentityref:
				if s, ok := v.(string); ok && identityModule[s] != "" {
					v = identityModule[s] + ":" + s
				}
			}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if enc == gpb.Encoding_JSON {
		return &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: b}}, nil
	}
	return &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: b}}, nil
}

// schemaRoot is the OpenConfig schema of everything the agent can serve.
var schemaRoot = oc.SchemaTree["Device"]

// lookup finds the schema entry of a path (keys are not checked). A
// wildcard ("*" or "...") ends the walk with no entry and no error; a name
// the models do not have is INVALID_ARGUMENT, naming it.
func lookup(elems []*gpb.PathElem) (*yang.Entry, error) {
	e := schemaRoot
	for i, pe := range elems {
		name := pe.GetName()
		if name == "*" || name == "..." {
			return nil, nil
		}
		if _, local, ok := strings.Cut(name, ":"); ok {
			name = local // an origin-qualified name
		}
		next := e.Dir[name]
		if next == nil {
			var names []string
			for _, x := range elems[:i+1] {
				names = append(names, x.GetName())
			}
			return nil, status.Errorf(codes.InvalidArgument, "/%s: %q is not in the OpenConfig models served here (interfaces, LLDP)", strings.Join(names, "/"), pe.GetName())
		}
		e = next
	}
	return e, nil
}

// checkPath refuses a path outside the models served.
func checkPath(prefix, p *gpb.Path) error {
	_, err := lookup(joinPath(prefix, p).GetElem())
	return err
}

// withListWildcards returns p (under prefix) with every list element that
// names no keys given "*" for each: in gNMI a keyless list element means
// every entry, which the cache's string paths need spelled out.
func withListWildcards(prefix, p *gpb.Path) *gpb.Path {
	out := &gpb.Path{Origin: p.GetOrigin(), Target: p.GetTarget()}
	e := schemaRoot
	walk := func(pe *gpb.PathElem, keep bool) {
		if e == nil {
			if keep {
				out.Elem = append(out.Elem, pe)
			}
			return
		}
		name := pe.GetName()
		if _, local, ok := strings.Cut(name, ":"); ok {
			name = local
		}
		e = e.Dir[name]
		if !keep {
			return
		}
		if e != nil && e.IsList() && len(pe.GetKey()) == 0 {
			keys := map[string]string{}
			for _, k := range strings.Fields(e.Key) {
				keys[k] = "*"
			}
			pe = &gpb.PathElem{Name: pe.GetName(), Key: keys}
		}
		out.Elem = append(out.Elem, pe)
	}
	for _, pe := range prefix.GetElem() {
		walk(pe, false)
	}
	for _, pe := range p.GetElem() {
		walk(pe, true)
	}
	return out
}

// ---- Subscribe ------------------------------------------------------------

// Subscribe answers ONCE, POLL and STREAM ON_CHANGE with openconfig/gnmi's
// subscribe server over the cache; STREAM lists with SAMPLE members or
// heartbeats are served here.
func (a *Agent) Subscribe(stream gpb.GNMI_SubscribeServer) error {
	select {
	case <-a.ready:
	case <-stream.Context().Done():
		return nil
	}
	req, err := stream.Recv()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	sl := req.GetSubscribe()
	if sl == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a SubscriptionList")
	}
	target, err := a.target(sl.GetPrefix())
	if err != nil {
		return err
	}
	if sl.Prefix == nil {
		sl.Prefix = &gpb.Path{}
	}
	sl.Prefix.Target = target
	if len(sl.GetSubscription()) == 0 {
		return status.Error(codes.InvalidArgument, "a subscription list without subscriptions")
	}
	own := false
	for _, s := range sl.GetSubscription() {
		s.Path = withListWildcards(sl.GetPrefix(), s.GetPath())
		if _, err := path.CompletePath(sl.GetPrefix(), s.GetPath()); err != nil {
			return status.Errorf(codes.InvalidArgument, "path %v: %v", s.GetPath(), err)
		}
		if err := checkPath(sl.GetPrefix(), s.GetPath()); err != nil {
			return err
		}
		if sl.GetMode() == gpb.SubscriptionList_STREAM && (s.GetMode() == gpb.SubscriptionMode_SAMPLE || s.GetHeartbeatInterval() > 0) {
			own = true
		}
	}
	if sl.GetEncoding() != gpb.Encoding_JSON_IETF && sl.GetEncoding() != gpb.Encoding_JSON && sl.GetEncoding() != gpb.Encoding_PROTO {
		return status.Errorf(codes.Unimplemented, "encoding %s is not supported (JSON_IETF, JSON, PROTO)", sl.GetEncoding())
	}
	if own {
		return a.stream(stream, sl)
	}
	return a.sub.Subscribe(&replay{GNMI_SubscribeServer: stream, first: req, enc: sl.GetEncoding()})
}

// replay hands the subscribe server the request the agent already read,
// and puts the values it sends in the encoding asked for (the cache holds
// typed scalars).
type replay struct {
	gpb.GNMI_SubscribeServer
	first *gpb.SubscribeRequest
	enc   gpb.Encoding
}

func (r *replay) Send(resp *gpb.SubscribeResponse) error {
	if n := resp.GetUpdate(); n != nil {
		resp = &gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: reencode(n, r.enc)}}
	}
	return r.GNMI_SubscribeServer.Send(resp)
}

func (r *replay) Recv() (*gpb.SubscribeRequest, error) {
	if f := r.first; f != nil {
		r.first = nil
		return f, nil
	}
	return r.GNMI_SubscribeServer.Recv()
}

// fanout passes a change to the agent's own STREAM subscriptions.
func (a *Agent) fanout(n *gpb.Notification) {
	a.subsMu.Lock()
	defer a.subsMu.Unlock()
	for ch := range a.subs {
		select {
		case ch <- n:
		default: // dropped for a stream this far behind (see Agent)
		}
	}
}

// stream serves a STREAM list with SAMPLE members or heartbeats: each
// SAMPLE member sends its paths' values every sample interval; ON_CHANGE
// members send changes as the cache gets them, and their values again
// every heartbeat interval.
func (a *Agent) stream(stream gpb.GNMI_SubscribeServer, sl *gpb.SubscriptionList) error {
	ctx := stream.Context()
	target := sl.GetPrefix().GetTarget()
	type member struct {
		full  []string
		mode  gpb.SubscriptionMode
		every time.Duration
		next  time.Time
	}
	now := time.Now()
	var members []*member
	for _, s := range sl.GetSubscription() {
		full, _ := path.CompletePath(sl.GetPrefix(), s.GetPath())
		m := &member{full: full, mode: s.GetMode()}
		switch s.GetMode() {
		case gpb.SubscriptionMode_SAMPLE:
			m.every = time.Duration(s.GetSampleInterval())
			if m.every == 0 {
				m.every = a.cfg.CounterInterval
			}
			m.every = max(m.every, a.cfg.MinSampleInterval)
		default: // ON_CHANGE, TARGET_DEFINED: changes, plus heartbeats
			m.every = max(time.Duration(s.GetHeartbeatInterval()), 0)
			if m.every > 0 {
				m.every = max(m.every, a.cfg.MinSampleInterval)
			}
		}
		m.next = now.Add(m.every)
		members = append(members, m)
	}
	changes := make(chan *gpb.Notification, 1024)
	a.subsMu.Lock()
	a.subs[changes] = struct{}{}
	a.subsMu.Unlock()
	defer func() {
		a.subsMu.Lock()
		delete(a.subs, changes)
		a.subsMu.Unlock()
	}()
	send := func(n *gpb.Notification) error {
		return stream.Send(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}})
	}
	// sample sends the current values under full.
	sample := func(full []string) error {
		var out []*gpb.Notification
		err := a.cache.Query(target, full, func(_ []string, _ *ctree.Leaf, v any) error {
			if n, ok := v.(*gpb.Notification); ok {
				out = append(out, reencode(n, sl.GetEncoding()))
			}
			return nil
		})
		if err != nil {
			return status.Errorf(codes.Internal, "query: %v", err)
		}
		for _, n := range out {
			n.Timestamp = time.Now().UnixNano()
			if err := send(n); err != nil {
				return err
			}
		}
		return nil
	}
	if !sl.GetUpdatesOnly() {
		for _, m := range members {
			if err := sample(m.full); err != nil {
				return err
			}
		}
	}
	if err := stream.Send(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_SyncResponse{SyncResponse: true}}); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := time.Time{}
		for _, m := range members {
			if m.every > 0 && (next.IsZero() || m.next.Before(next)) {
				next = m.next
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case n := <-changes:
			for _, m := range members {
				if m.mode == gpb.SubscriptionMode_SAMPLE || !matches(m.full, n) {
					continue
				}
				if err := send(reencode(n, sl.GetEncoding())); err != nil {
					return err
				}
				break
			}
		case <-timer.C:
			now := time.Now()
			for _, m := range members {
				if m.every > 0 && !now.Before(m.next) {
					if err := sample(m.full); err != nil {
						return err
					}
					m.next = now.Add(m.every)
				}
			}
		}
	}
}

// matches reports whether one of n's paths lies under the query q ("*"
// matches one element, "..." the rest).
func matches(q []string, n *gpb.Notification) bool {
	check := func(p *gpb.Path) bool {
		full := path.ToStrings(joinPath(n.GetPrefix(), p), false)
		for i, e := range q {
			if e == "..." {
				return true
			}
			if i >= len(full) || e != "*" && e != full[i] {
				return false
			}
		}
		return true // at or under q
	}
	for _, u := range n.GetUpdate() {
		if check(u.GetPath()) {
			return true
		}
	}
	for _, d := range n.GetDelete() {
		if check(d) {
			return true
		}
	}
	return false
}

// reencode copies n with its values in the subscription's encoding.
func reencode(n *gpb.Notification, enc gpb.Encoding) *gpb.Notification {
	out := &gpb.Notification{Timestamp: n.GetTimestamp(), Prefix: n.GetPrefix(), Delete: n.GetDelete(), Atomic: n.GetAtomic()}
	for _, u := range n.GetUpdate() {
		v, err := encode(joinPath(n.GetPrefix(), u.GetPath()), u.GetVal(), enc)
		if err != nil {
			v = u.GetVal()
		}
		out.Update = append(out.Update, &gpb.Update{Path: u.GetPath(), Val: v})
	}
	return out
}
