// Package controller keeps every device equal to the cluster's desired
// state. Every node compiles the replicated policy model (pkg/cluster,
// pkg/policy). Mastership is partitioned (mastership.go): the raft leader
// gives each device a master among the live members, in the replicated
// state, and only the master holds a session to it (others backup
// sessions when configured) and writes it, with an election id made from
// the device's epoch, so a master that lost a device is outranked on the
// switch by the new one. On taking a device, and whenever it
// (re)connects, the master pushes the pipeline if the device runs
// another and reconciles the device in full; in between it writes each
// model change as a delta.
package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// Config configures a controller.
type Config struct {
	Node    *cluster.Node
	Targets policy.Targets
	// DialOptions returns the gRPC options for a device's P4Runtime
	// session (TLS, dialers); nil means plaintext.
	DialOptions func(*policy.Device) []grpc.DialOption
	// DeviceTLS, if set, secures every device's P4Runtime session (mutual
	// TLS when it holds a client certificate); nil means plaintext.
	DeviceTLS *tls.Config
	Bulk      p4rt.BulkOptions
	Logger    *slog.Logger
	// RetryInterval is how long a device that failed to sync waits before
	// the next full attempt (default 1s).
	RetryInterval time.Duration
	// Topology is where the node keeps what it learns of the network
	// (nil: a new one). Endpoints that name a host are placed from it.
	Topology *topo.Topology
	// GNMIDialOptions returns extra gRPC options for a device's gNMI
	// session (DeviceTLS, if set, secures it too).
	GNMIDialOptions func(*policy.Device) []grpc.DialOption
	// CounterInterval is how often devices' port counters are sampled over
	// gNMI (default 10s).
	CounterInterval time.Duration
	// CounterReadInterval is how often the node reads the policy
	// counters of the devices it masters (default 1m; negative: only on
	// demand).
	CounterReadInterval time.Duration
	// MaxCounterSeries caps the Prometheus series of policy counters
	// (device, policy); the rest are summed per device under
	// policy="_other" (default 1000).
	MaxCounterSeries int
	// MaxFlowRecords caps the flow log (DefaultMaxFlowRecords when 0).
	MaxFlowRecords int
	// AnswerTimeout is how long a device may leave a new session without
	// an arbitration answer before it is reported (last error, a sync
	// failure): a device that accepts the connection and never speaks
	// P4Runtime shows up then rather than never (default 5s).
	AnswerTimeout time.Duration
	// ProbeInterval is how often the leader sends LLDP out of every port
	// of every device to find the links between switches (default 5s;
	// links are held for four intervals).
	ProbeInterval time.Duration
	// MemberDownAfter is how long a member may fail raft's heartbeats
	// before the leader gives its devices to the others (default
	// DefaultMemberDownAfter).
	MemberDownAfter time.Duration
	// BackupSessions makes the node hold a backup session to every device
	// it does not master (a quicker takeover, at a session per device per
	// member); by default it holds sessions to its own devices only.
	BackupSessions bool
	// ReconcileWorkers bounds how many devices' full desired states are
	// built at once (default GOMAXPROCS): the build is CPU work whose
	// garbage grows with the device's entries, so a thousand devices
	// connecting together queue for it rather than build a thousand sets
	// at once. The memory those states hold until their writes end is
	// bounded by ReconcileMemory.
	ReconcileWorkers int
	// ReconcileMemory bounds, in bytes, what the full reconciles in
	// flight hold together, from the build of a device's desired state
	// until its write ends (default DefaultReconcileMemory; negative: no
	// bound): a reconcile waits for its device's share, about 100 bytes
	// per entry, and a device larger than the whole bound reconciles
	// alone. It sets a node's peak memory during a fleet's first apply or
	// reconnect rather than the number of devices it masters, at the cost
	// of fewer devices written at once.
	ReconcileMemory int64
}

// DeviceStatus is what the controller knows of one device.
type DeviceStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Master is the member that masters the device, and MasterEpoch the
	// epoch of its assignment (empty and 0 before the leader assigned it).
	Master      string `json:"master,omitempty"`
	MasterEpoch uint64 `json:"master_epoch,omitempty"`
	Connected   bool   `json:"connected"`
	Primary     bool   `json:"primary"`
	// PrimaryElectionID is the election id of the device's primary (or
	// the highest it has seen) as it last told this node: this node's own
	// when Primary.
	PrimaryElectionID string         `json:"primary_election_id,omitempty"`
	InSync            bool           `json:"in_sync"`
	PipelineCookie    uint64         `json:"pipeline_cookie"`
	Entries           map[string]int `json:"entries"`
	LastError         string         `json:"last_error"`
	// ModelIndex is the raft index of the model the device was last
	// brought to (equal to it when InSync).
	ModelIndex uint64 `json:"model_index"`
	// WriteDone and WriteTotal are the progress of the write in flight
	// (entries and groups); both are 0 when none is.
	WriteDone  int `json:"write_done"`
	WriteTotal int `json:"write_total"`
	// PipelinePush is how the pipeline last reached the device (install
	// onto a device that ran none, reconcile_and_commit or
	// verify_and_commit; empty if this node found it running), and
	// PushGap, for verify_and_commit, the time from the push until every
	// entry was written again.
	PipelinePush string        `json:"pipeline_push,omitempty"`
	PushGap      time.Duration `json:"push_gap,omitempty"`
	// DenialLog is whether the device reports denied flows: "on", "not
	// supported: ..." (its pipeline has no denial digest), "off: ..." (the
	// digest could not be configured); empty before the pipeline reached
	// it from this node.
	DenialLog string `json:"denial_log,omitempty"`
	// FlowLog is whether the device reports allowed flows too (flows.go),
	// in DenialLog's terms.
	FlowLog string `json:"flow_log,omitempty"`
	// Queued is set while the device's full reconcile waits for its share
	// of the reconcile budget (Config.ReconcileMemory).
	Queued bool `json:"queued,omitempty"`
}

// Controller runs the devices of one node.
//
// Run is called once, from its own goroutine, and owns the device
// workers until its ctx ends. Every other method may be called from any
// goroutine while Run runs (the API server and Duties do); Apply and
// Delete block until raft commits or ctx ends. A channel from Subscribe is
// buffered (64 events; when it is full the oldest is dropped for the
// newest) and never closed: call its cancel function to stop.
type Controller struct {
	cfg Config
	log *slog.Logger

	// proposeMu serializes changes from prepare to commit (propose); it is
	// taken before mu, never while holding it.
	proposeMu    sync.Mutex
	mu           sync.Mutex // guards compiler, workers, leader, term, subs, assign, seenRevision
	compiler     *policy.Compiler
	workers      map[string]*worker
	leader       bool // leads raft, caught up with the log: assigns devices
	term         uint64
	subs         map[chan Event]struct{}
	assign       cluster.Assignments // the devices' masters, as last synced
	contact      bool                // in touch with the cluster (contactLoop)
	seenRevision uint64              // the model revision last synced (compiled or not)
	index        uint64              // raft index of the compiled model
	source       *policy.Model       // the replicated model compiled (before placement)
	topoSeen     uint64              // topology version placed from
	binder       policy.Binder
	unplaced     []string // endpoints naming a host that could not be placed, and why
	topo         *topo.Topology
	// gnmiWatches are the gNMI subscriptions, by device.
	gnmiWatches map[string]*gnmiWatch

	metrics  metrics
	counters *counterStore
	denials  *denialLog
	flows    *flowLog
	events   *statusEvents // device and topology changes for watchers (events.go)

	assignKick chan struct{} // the leader's assignment loop should look again (buffered 1)

	// builds holds a token per full desired state being built (capacity
	// ReconcileWorkers).
	builds chan struct{}
	// budget bounds the memory of the full reconciles in flight
	// (ReconcileMemory; budget.go).
	budget *reconcileBudget
	// onBudget, if set (by tests), is called by reconcile with the
	// device's name and +1 once it holds its share of budget, -1 as it
	// gives it back.
	onBudget func(device string, delta int)
	// onBuild, if set (by tests), is called by desired with the device's
	// name after the snapshot is taken and mu released, before the build.
	onBuild func(device string)
}

// Event is a change a watcher hears of: the model the node enforces now
// (ModelIndex), leadership gained or lost, a device whose status changed
// (Device: its name) or the topology's links or hosts changed (Topology);
// the last two are coalesced (events.go).
type Event struct {
	ModelIndex uint64
	Leader     *bool
	Device     string
	Topology   bool
}

// Subscribe returns a channel of events and a function that ends the
// subscription. A watcher that falls behind by more than 64 events loses
// the oldest; while its buffer is full, device and topology events are
// not sent to it (they are hints: the status can be read again).
func (c *Controller) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	c.mu.Lock()
	c.subs[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// publish sends e to every watcher. Callers hold mu.
func (c *Controller) publish(e Event) {
	for ch := range c.subs {
		sendDropOldest(ch, e)
	}
}

// sendDropOldest sends v on the buffered channel ch without blocking:
// when ch is full, its oldest value makes room.
func sendDropOldest[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- v:
		default:
		}
	}
}

// New returns a controller for cfg.Node; Run starts it.
func New(cfg Config) *Controller {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 5 * time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.CounterReadInterval == 0 {
		cfg.CounterReadInterval = time.Minute
	}
	if cfg.MaxCounterSeries <= 0 {
		cfg.MaxCounterSeries = 1000
	}
	if cfg.Topology == nil {
		cfg.Topology = topo.New()
	}
	if cfg.MemberDownAfter <= 0 {
		cfg.MemberDownAfter = DefaultMemberDownAfter
	}
	if cfg.Bulk.BatchSize == 0 {
		cfg.Bulk = p4rt.BulkOptions{BatchSize: 1000, InFlight: 4}
	}
	if cfg.ReconcileWorkers <= 0 {
		cfg.ReconcileWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.ReconcileMemory == 0 {
		cfg.ReconcileMemory = DefaultReconcileMemory
	}
	return &Controller{cfg: cfg, log: log.With("node", cfg.Node.ID()), compiler: policy.NewCompiler(cfg.Targets), workers: map[string]*worker{},
		subs: map[chan Event]struct{}{}, metrics: newMetrics(), counters: newCounterStore(), denials: newDenialLog(), flows: newFlowLog(cfg.MaxFlowRecords), events: newStatusEvents(), topo: cfg.Topology, source: policy.NewModel(),
		gnmiWatches: map[string]*gnmiWatch{}, assignKick: make(chan struct{}, 1), builds: make(chan struct{}, cfg.ReconcileWorkers),
		budget: newReconcileBudget(max(cfg.ReconcileMemory, 0))}
}

// Run follows model and leadership changes until ctx ends, then stops
// every device session.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Leadership counts once the state machine has applied every entry
	// committed before this node led: a new leader whose model is behind
	// would otherwise reconcile the devices to it, deleting entries that
	// are committed. A barrier (raft's) finds that moment.
	ready := make(chan uint64, 1)
	var stopBarrier context.CancelFunc = func() {}
	catchUp := func() {
		stopBarrier()
		var bctx context.Context
		bctx, stopBarrier = context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.awaitCaughtUp(bctx, ready)
		}()
	}
	defer func() { stopBarrier() }()
	c.mu.Lock()
	c.leader = false
	c.term = c.cfg.Node.Term()
	c.mu.Unlock()
	if c.cfg.Node.IsLeader() {
		catchUp()
	}
	c.sync(ctx, &wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.countersLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.assignLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.eventLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.contactLoop(ctx)
	}()
	// Links and hosts are forgotten when not heard again in time: wake up
	// for the next expiry.
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	rearm := func() {
		next := time.Hour
		if at := c.topo.NextExpiry(); !at.IsZero() {
			next = max(time.Until(at), time.Millisecond)
		}
		expiry.Reset(next)
	}
	rearm()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.topo.Changes():
			c.events.markTopology()
			c.sync(ctx, &wg)
			rearm()
		case <-expiry.C:
			c.topo.Expire(time.Now())
			rearm()
		case <-c.cfg.Node.Changes():
			c.sync(ctx, &wg)
		case l := <-c.cfg.Node.Leadership():
			if l {
				catchUp() // leads once caught up (ready)
				continue
			}
			stopBarrier()
			c.setLeader(false, c.cfg.Node.Term())
		case term := <-ready:
			if !c.cfg.Node.IsLeader() || c.cfg.Node.Term() != term {
				continue // lost again while catching up
			}
			c.sync(ctx, &wg) // compile the newest model before any device is assigned
			c.setLeader(true, term)
			c.kickAssign()
		}
	}
}

// setLeader records the node's role and tells every device worker.
func (c *Controller) setLeader(l bool, term uint64) {
	c.mu.Lock()
	c.leader, c.term = l, term
	c.publish(Event{Leader: &l})
	c.mu.Unlock()
	c.log.Info("leadership changed", "leader", l, "term", term)
}

// awaitCaughtUp waits, while this node leads, until its state machine
// has applied every entry before its term's barrier, and then sends the
// term on ready. It gives up when ctx ends or the node stops leading.
func (c *Controller) awaitCaughtUp(ctx context.Context, ready chan<- uint64) {
	for ctx.Err() == nil && c.cfg.Node.IsLeader() {
		term := c.cfg.Node.Term()
		bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.cfg.Node.Barrier(bctx)
		cancel()
		if err == nil {
			select {
			case ready <- term:
			case <-ctx.Done():
			}
			return
		}
		c.log.Warn("new leader catching up with the log", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ElectionPrefix is the upper half of the high word of every election id
// a p4ctl leader uses ("p4ct" in ASCII): the lower half carries the raft
// term, so a newer leader outranks an older one, and the prefix outranks
// the ids other P4Runtime clients pick (p4runtime-shell's (0, 1), ONOS's
// ids in the low word, a timestamp in seconds or nanoseconds in the high
// word: all below 0x70346374 << 32). A client that wants the device from
// a p4ctl leader has to choose to outrank it.
const ElectionPrefix = uint64(0x70346374) << 32

// LeaderElectionID is the election id of the leader of raft term term.
func LeaderElectionID(term uint64) p4rt.ElectionID {
	return p4rt.ElectionID{High: ElectionPrefix | term&0xffffffff}
}

// sync compiles the newest model, with endpoints that name a host placed
// where the topology sees them, hands each device its changes, and keeps
// a worker (a session) for each device this node masters (every device
// with backup sessions).
func (c *Controller) sync(ctx context.Context, wg *sync.WaitGroup) {
	src, index := c.cfg.Node.ModelRevision()
	version := c.topo.Version()
	assign := c.cfg.Node.Assignments()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seenRevision = max(c.seenRevision, index)
	var d *policy.Delta
	if src != c.source || version != c.topoSeen {
		var ok bool
		if d, ok = c.compileLocked(ctx, wg, src, version, index); !ok {
			return
		}
		if src != c.source {
			c.kickAssign() // the devices may have changed
		}
		c.source = src
	}
	if d == nil && maps.Equal(assign, c.assign) {
		return
	}
	prev := c.assign
	c.assign = assign
	c.markAssignments(prev, assign)
	m := c.compiler.Model()
	// Start and stop device workers.
	for name, dev := range m.Devices {
		w, ok := c.workers[name]
		want := c.wantsSessionLocked(name)
		switch {
		case ok && want && sameSession(w.dev, dev):
			if prev[name] != assign[name] {
				w.roleChanged() // mastership moved: arbitrate again on the live stream
			}
			continue
		case ok:
			w.stop()
			delete(c.workers, name)
		}
		if !want {
			continue
		}
		nw := newWorker(ctx, c, dev)
		c.workers[name] = nw
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w != nil {
				// One session per device and node: the old one closes
				// before the new one opens with the same election id.
				select {
				case <-w.done:
				case <-ctx.Done():
					return
				}
			}
			nw.run()
		}()
	}
	for name, w := range c.workers {
		if _, ok := m.Devices[name]; !ok {
			w.stop()
			delete(c.workers, name)
		}
	}
	if d == nil {
		return
	}
	c.index = index
	// Every device hears of the new index, with an empty delta if the
	// change is not its own, so that its status says it is current.
	for name, w := range c.workers {
		dd := d.Devices[name]
		if dd == nil {
			dd = &policy.DeviceDelta{}
		}
		w.enqueue(dd, index)
	}
	c.publish(Event{ModelIndex: index})
	c.log.Debug("model compiled", "index", index, "changes", d.Len())
}

// compileLocked compiles src, placed with the topology at version, and
// returns the change to the devices, or nil and true when the placed
// model is the one compiled already; false when it does not compile (the
// devices keep the last model that did). Callers hold mu.
func (c *Controller) compileLocked(ctx context.Context, wg *sync.WaitGroup, src *policy.Model, version, index uint64) (*policy.Delta, bool) {
	m, unplaced := c.binder.Bind(src, c.topo.HostLocation, c.fabricLinks())
	if !slices.Equal(unplaced, c.unplaced) {
		for _, u := range unplaced {
			c.log.Info("endpoint not placed", "reason", u)
		}
	}
	c.unplaced, c.topoSeen = unplaced, version
	if m == c.compiler.Model() {
		return nil, true
	}
	// No entries are built for devices this node does not write
	// incrementally: those it holds no session to (another member
	// masters them) and those whose worker reconciles in full next (a
	// new device, a first compile). At a fleet's first apply that is
	// every device.
	d, err := c.compiler.UpdateSkipping(m, func(dev string) bool {
		w := c.workers[dev]
		return w == nil || w.needsFull()
	})
	if err != nil {
		// The leader checks before committing, so this is a model that was
		// valid when proposed but does not fit here (another target
		// version); keep enforcing the last one that did.
		c.log.Error("compile failed; devices keep the previous state", "index", index, "err", err)
		for _, w := range c.workers {
			w.setError(fmt.Errorf("model at index %d does not compile: %w", index, err))
		}
		return nil, false
	}
	c.syncGNMI(ctx, wg, src)
	return d, true
}

// Apply checks documents against the current model and every device's
// tables (a model that does not fit is refused before it is committed),
// then commits them through raft.
func (c *Controller) Apply(ctx context.Context, file string, docs []byte) (res Result, err error) {
	return c.ApplyFiles(ctx, []cluster.Source{{File: file, Docs: string(docs)}}, false)
}

// ApplyFiles applies several files as one change, all or nothing; with
// strict, a change that validation warns about is refused too.
func (c *Controller) ApplyFiles(ctx context.Context, srcs []cluster.Source, strict bool) (res Result, err error) {
	defer func(start time.Time) { c.metrics.observeApply("apply", start, err) }(time.Now())
	return c.propose(ctx, func() (*cluster.Proposal, error) {
		p, err := c.cfg.Node.PrepareFiles(ctx, srcs)
		if err == nil && strict && len(p.Warnings()) > 0 {
			errs := policy.Errors{}
			for _, w := range p.Warnings() {
				errs = append(errs, &policy.Error{Msg: "warning (--strict): " + w})
			}
			return nil, errs
		}
		return p, err
	})
}

// Result is a committed change and the devices it writes to.
type Result struct {
	cluster.Result
	// Devices are the devices whose entries or groups the change
	// rewrites, sorted, unless AllDevices (a segment or device change,
	// which is not diffed before commit).
	Devices    []string
	AllDevices bool
}

// Delete removes objects, after the same check as Apply.
func (c *Controller) Delete(ctx context.Context, dels []policy.Deletion) (res Result, err error) {
	defer func(start time.Time) { c.metrics.observeApply("delete", start, err) }(time.Now())
	return c.propose(ctx, func() (*cluster.Proposal, error) { return c.cfg.Node.PrepareDelete(ctx, dels) })
}

// Rollback brings the model back to what it was right after revision
// index (see cluster.Node.PrepareRollback), after the same check as
// Apply.
func (c *Controller) Rollback(ctx context.Context, index uint64) (res Result, err error) {
	defer func(start time.Time) { c.metrics.observeApply("rollback", start, err) }(time.Now())
	return c.propose(ctx, func() (*cluster.Proposal, error) { return c.cfg.Node.PrepareRollback(ctx, index) })
}

// staleRetries bounds how often a change is prepared again because
// another change reached the model first.
const staleRetries = 5

// propose prepares a change, checks that the model it leads to fits every
// device, and commits it, one change at a time: the check holds for the
// model the change was prepared on, and the state machine refuses the
// change (cluster.ErrStale) if that model was replaced before it
// committed, in which case it is prepared and checked again. So two
// changes that each fit cannot commit together into a model that does not.
func (c *Controller) propose(ctx context.Context, prepare func() (*cluster.Proposal, error)) (Result, error) {
	return c.proposeRetrying(ctx, staleRetries, prepare)
}

// applyAt applies docs only into the model at revision rev: anything else
// is ErrStale, not prepared again.
func (c *Controller) applyAt(ctx context.Context, file string, docs []byte, rev uint64) (Result, error) {
	return c.proposeRetrying(ctx, 0, func() (*cluster.Proposal, error) {
		p, err := c.cfg.Node.Prepare(ctx, file, docs)
		if err == nil && p.Base() != rev {
			return nil, fmt.Errorf("%w: the model is at revision %d, not %d", cluster.ErrStale, p.Base(), rev)
		}
		return p, err
	})
}

func (c *Controller) proposeRetrying(ctx context.Context, retries int, prepare func() (*cluster.Proposal, error)) (Result, error) {
	c.proposeMu.Lock()
	defer c.proposeMu.Unlock()
	for attempt := 0; ; attempt++ {
		p, err := prepare()
		if err != nil {
			return Result{}, err
		}
		var devices []string
		var all bool
		if !p.Unchanged() {
			if devices, all, err = c.try(p.Next()); err != nil {
				return Result{}, err
			}
		}
		cres, err := c.cfg.Node.Commit(ctx, p)
		res := Result{Result: cres, Devices: devices, AllDevices: all}
		if errors.Is(err, cluster.ErrStale) && attempt < retries && ctx.Err() == nil {
			c.log.Info("change prepared again: the model changed before it committed", "attempt", attempt+1, "err", err)
			continue
		}
		return res, err
	}
}

// Diff is what applying documents would change: the objects, and the
// entries and groups of each device.
type Diff struct {
	Changes  []policy.Change
	Delta    *policy.Delta
	Warnings []string
}

// Diff works out what applying docs would change, checked as Apply
// checks (validation, every device's capacity), and commits nothing.
func (c *Controller) Diff(srcs []cluster.Source) (*Diff, error) {
	objs, err := cluster.ParseSources(srcs)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, policy.Errors{&policy.Error{Src: policy.Source{File: srcs[0].File}, Msg: "no documents"}}
	}
	cur, _ := c.cfg.Node.Model()
	next, warnings, err := cur.With(objs, nil)
	if err != nil {
		return nil, err
	}
	var b policy.Binder
	placed, _ := b.Bind(next, c.topo.HostLocation, c.fabricLinks())
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.compiler.DeltaTo(placed)
	if err != nil {
		return nil, err
	}
	return &Diff{Changes: policy.Changes(cur, next), Delta: d, Warnings: warnings}, nil
}

// Devices reports every device's status, by name.
func (c *Controller) Devices() []DeviceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []DeviceStatus
	for _, name := range slices.Sorted(maps.Keys(c.workers)) {
		st := c.workers[name].status()
		st.Master, st.MasterEpoch = c.assign[name].Member, c.assign[name].Epoch
		c.flowLogSupport(c.workers[name].dev, &st)
		out = append(out, st)
	}
	return out
}

// try checks that m, with its host endpoints placed as they would be now,
// compiles and fits every device: a trial update of the live compiler,
// undone at once, so a one-endpoint change on a large model costs two
// incremental compiles rather than a full one.
func (c *Controller) try(m *policy.Model) (devices []string, all bool, err error) {
	var b policy.Binder // the controller's own binder is for real compiles
	placed, _ := b.Bind(m, c.topo.HostLocation, c.fabricLinks())
	c.mu.Lock()
	defer c.mu.Unlock()
	// The compiler may not have reached the committed model yet: the
	// devices it names then include those of the changes in between.
	return c.compiler.TryTouched(placed)
}

// Model is the replicated model the controller enforces now (endpoints
// that name a host are placed from the topology when compiled).
func (c *Controller) Model() *policy.Model {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.source
}

// ModelIndex is the raft index of the model the controller compiled last
// (0 before the first).
func (c *Controller) ModelIndex() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.index
}

// Topology is what this node has learned of the network.
func (c *Controller) Topology() *topo.Topology { return c.topo }

// Placement is where an endpoint that names a host is placed.
type Placement struct {
	Endpoint, Host string
	Device         string // empty when unplaced
	Port           uint32
	Reason         string // why it is unplaced
}

// Placements reports every endpoint that names a host: where it is
// placed, or why it is not.
func (c *Controller) Placements() []Placement {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.compiler.Model()
	var out []Placement
	for _, name := range slices.Sorted(maps.Keys(m.Endpoints)) {
		e := m.Endpoints[name]
		if e.Host == "" {
			continue
		}
		p := Placement{Endpoint: name, Host: e.Host, Device: e.Device, Port: e.Port}
		if !e.Placed() {
			for _, u := range c.unplaced {
				if strings.HasPrefix(u, "endpoint "+name+": ") {
					p.Reason = strings.TrimPrefix(u, "endpoint "+name+": ")
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// Trace runs policy.Trace on the compiled state.
func (c *Controller) Trace(dev string, p policy.Packet) (*policy.TraceResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.compiler.Trace(dev, p)
}

// desiredState is one device's full desired state at a model index.
type desiredState struct {
	entries *p4rt.EntrySet
	groups  []*p4v1.MulticastGroupEntry
	counts  map[string]int
	index   uint64
}

// desired returns device w's full desired state. Under mu it only takes
// the compiler's snapshot of the device (a reference per place of rows,
// which later compiles leave alone: policy.DeviceSnapshot) and clears the
// device's pending deltas, so that deltas compiled before the snapshot's
// model index are dropped (the snapshot holds them) and those compiled
// after it, which sync enqueues once mu is released, are applied after
// it. The entries are built after mu is released, with at most
// ReconcileWorkers builds at a time; waiting for a turn ends with ctx.
func (c *Controller) desired(ctx context.Context, w *worker) (desiredState, error) {
	release, err := c.acquireBuild(ctx)
	if err != nil {
		return desiredState{}, err
	}
	defer release()
	snap, index, err := c.snapshotDevice(w)
	if err != nil {
		return desiredState{}, err
	}
	if c.onBuild != nil {
		c.onBuild(w.dev.Name)
	}
	set := p4rt.NewEntrySet(snap.Rows())
	actions := map[string]string{} // a device's entries share few actions: keep one string each
	err = snap.EachEncoded(func(key, action []byte) error {
		a, ok := actions[string(action)]
		if !ok {
			a = string(action)
			actions[a] = a
		}
		return set.AddEncoded(string(key), a)
	})
	if err != nil {
		return desiredState{}, err
	}
	return desiredState{entries: set, groups: snap.Groups(), counts: snap.Counts(), index: index}, nil
}

// snapshotDevice takes mu, and under it device w's snapshot and the
// model index the compiler is at, and clears w's pending deltas and its
// need of a full reconcile (see desired).
func (c *Controller) snapshotDevice(w *worker) (*policy.DeviceSnapshot, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap, err := c.compiler.Snapshot(w.dev.Name)
	if err != nil {
		return nil, 0, err
	}
	w.mu.Lock()
	w.pending = nil
	w.full = false
	w.mu.Unlock()
	return snap, c.index, nil
}

// acquireBuild waits for a turn to build a device's desired state (one
// of ReconcileWorkers) and returns the function that gives it back; it
// gives up when ctx ends.
func (c *Controller) acquireBuild(ctx context.Context) (release func(), err error) {
	select {
	case c.builds <- struct{}{}:
		return func() { <-c.builds }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ErrNoDevice is returned for a device name the model does not have.
var ErrNoDevice = errors.New("no such device")

// sameSession reports whether a and b are reached with the same
// P4Runtime session: a device document re-applied unchanged, or changed
// only in what the session does not depend on, keeps its session.
func sameSession(a, b *policy.Device) bool {
	return a.Name == b.Name && a.Address == b.Address && a.DeviceID == b.DeviceID && a.Target == b.Target
}

// fabricLinks are the links between devices that the topology sees in
// both directions: a cable that carries LLDP one way only is not one to
// forward over.
func (c *Controller) fabricLinks() []policy.Link {
	_, links, _ := c.topo.Snapshot()
	seen := map[[2]topo.End]bool{}
	for _, l := range links {
		seen[[2]topo.End{l.From, l.To}] = true
	}
	var out []policy.Link
	for _, l := range links {
		if seen[[2]topo.End{l.To, l.From}] {
			out = append(out, policy.Link{A: policy.PortKey{Device: l.From.Device, Port: l.From.Port}, B: policy.PortKey{Device: l.To.Device, Port: l.To.Port}})
		}
	}
	return out
}

// probePorts are the ports of device dev to send LLDP probes out of: the
// ports the model declares there and those the device reports over gNMI.
func (c *Controller) probePorts(dev string) []uint32 {
	c.mu.Lock()
	m := c.compiler.Model()
	c.mu.Unlock()
	set := map[uint32]bool{}
	for k := range m.Ports {
		if k.Device == dev {
			set[k.Port] = true
		}
	}
	ports, _, _ := c.topo.Snapshot()
	for _, p := range ports {
		if p.Device == dev && p.ID != 0 {
			set[p.ID] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
