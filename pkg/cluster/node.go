// Package cluster replicates p4ctl's desired state with hashicorp/raft.
// A Node is one member: a raft instance with a bbolt log and stable store
// and file snapshots under its data directory, whose state machine holds
// the validated policy model (pkg/policy). Commands are policy documents
// to apply or objects to delete; one that does not validate changes
// nothing on any node. The package knows nothing of devices: it tells its
// user when the model changes and when leadership does.
package cluster

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// Config configures a node.
type Config struct {
	// ID names the node in the cluster; it must stay the same across
	// restarts.
	ID string
	// RaftAddr is the host:port raft listens on and other nodes reach it
	// at. Port 0 picks a free port (see Node.RaftAddr).
	RaftAddr string
	// DataDir holds the raft log, stable store and snapshots.
	DataDir string
	// Bootstrap makes a node with no state the first member of a new
	// cluster. It is ignored when the data directory holds state.
	Bootstrap bool
	// Logger receives the node's events; nil discards them.
	Logger *slog.Logger
	// Timeouts; zero takes raft's defaults. Tests shorten them.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot (0:
	// raft's default).
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked (0:
	// DefaultSnapshotInterval).
	SnapshotInterval time.Duration
	// HistoryRetention is how many revisions to keep (0:
	// DefaultHistoryRetention; negative: all).
	HistoryRetention int
	// TLS, when set, carries raft between members over mutual TLS: a
	// peer is admitted only with a certificate of the cluster CA that
	// names a member (tlsconf.Peers), and a plaintext peer is refused.
	// Nil: plaintext TCP, on a loopback address unless InsecureListen.
	TLS *tlsconf.Peers
	// PeerRecheck is how often live TLS connections' peers are verified
	// again (0: DefaultPeerRecheck).
	PeerRecheck time.Duration
	// InsecureListen lets plaintext raft listen on an address other than
	// loopback, where anyone who reaches it could append to the log.
	InsecureListen bool
	// Refusals logs and counts refused raft peers; nil: a log of the
	// node's own, once a minute per peer and reason.
	Refusals *tlsconf.RefusalLog
	// Transport, when set, carries raft instead of TCP at RaftAddr (which
	// is then ignored): tests give raft's in-memory transport, whose
	// Disconnect and DisconnectAll partition the cluster.
	Transport raft.Transport
}

// ValidateConfig reports what is wrong with cfg, naming the setting.
func ValidateConfig(cfg Config) error {
	if cfg.ID == "" {
		return errors.New("cluster: node id is empty")
	}
	if cfg.PeerRecheck < 0 {
		return fmt.Errorf("cluster: peer recheck interval %s is negative", cfg.PeerRecheck)
	}
	if cfg.TLS == nil && cfg.Transport == nil && !cfg.InsecureListen && !access.Loopback(cfg.RaftAddr) {
		return fmt.Errorf("cluster: raft address %s: without TLS raft listens on loopback only, since any peer that reaches it could append to the log; give the node TLS (--tls-cert, --tls-key, --tls-ca), or --insecure-listen", cfg.RaftAddr)
	}
	if cfg.TLS != nil {
		if err := cfg.TLS.Self(); err != nil {
			return fmt.Errorf("cluster: raft TLS: %w", err)
		}
	}
	return nil
}

// DefaultSnapshotInterval is how often a node checks whether its log
// is long enough to snapshot.
const DefaultSnapshotInterval = 10 * time.Second

// logCacheSize is how many recent log entries are kept decoded in memory
// for replication.
const logCacheSize = 512

// Node is one raft member holding the desired state.
//
// Every method may be called from any goroutine. Apply, Delete, Commit,
// SetAPIAddr, Join, Leave, WaitApplied and Barrier block until raft
// answers or ctx ends; they fail on a follower where they need the
// leader. Changes (buffered 1, coalesced to the newest index) and
// Leadership (buffered 16; the node's forwarding goroutine waits for a
// reader when it is full) are fed by the node's goroutines and never
// closed; Close stops the node and returns once raft has shut down.
type Node struct {
	cfg       Config
	log       *slog.Logger
	raft      *raft.Raft
	fsm       *fsm
	transport raft.Transport
	layer     *streamLayer // nil with Config.Transport
	store     *raftboltdb.BoltStore

	changes    chan uint64 // coalesced: the newest applied index
	leadership chan bool
	notify     chan bool
	done       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	metrics    nodeMetrics
	live       *liveness
}

// ErrNotLeader is returned for writes on a node that is not the leader.
type ErrNotLeader struct {
	LeaderID, LeaderAddr string // empty when no leader is known
}

func (e *ErrNotLeader) Error() string {
	if e.LeaderID == "" {
		return "not the raft leader, and no leader is known (no quorum?)"
	}
	return fmt.Sprintf("not the raft leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// slogWriter turns raft's log lines (hclog's JSON format) into slog
// records: hclog's level becomes the record's, its message the message,
// and every other field one attribute.
type slogWriter struct{ log *slog.Logger }

var hclogLevels = map[string]slog.Level{"trace": slog.LevelDebug - 4, "debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "error": slog.LevelError}

func (w slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			w.log.Info(sc.Text(), "component", "raft")
			continue
		}
		level, ok := hclogLevels[fmt.Sprint(rec["@level"])]
		if !ok {
			level = slog.LevelInfo
		}
		msg := fmt.Sprint(rec["@message"])
		attrs := []any{"component", "raft"}
		for _, k := range slices.Sorted(maps.Keys(rec)) {
			if !strings.HasPrefix(k, "@") {
				attrs = append(attrs, k, rec[k])
			}
		}
		w.log.Log(context.Background(), level, msg, attrs...)
	}
	return len(p), nil
}

// Start opens (or creates) the node's state under cfg.DataDir and starts
// raft. With cfg.Bootstrap and no existing state it forms a one-node
// cluster; otherwise it waits to be joined, or rejoins the cluster its
// state names.
func Start(cfg Config) (*Node, error) {
	if err := ValidateConfig(cfg); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.ID)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: log, metrics: newNodeMetrics(), changes: make(chan uint64, 1), leadership: make(chan bool, 16),
		notify: make(chan bool, 16), done: make(chan struct{}), live: newLiveness(cfg.ID)}
	retention := cfg.HistoryRetention
	if retention == 0 {
		retention = DefaultHistoryRetention
	}
	n.fsm = newFSM(n.signalChange, retention)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.NotifyCh = n.notify
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{log}, JSONFormat: true})
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	// Raft looks at the threshold every SnapshotInterval (randomly up to
	// twice that); at its default of two minutes a node restarted more
	// often than that never snapshots, and every restart replays the
	// whole log. The check is cheap.
	rc.SnapshotInterval = DefaultSnapshotInterval
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}

	store, err := raftboltdb.NewBoltStore(filepath.Join(cfg.DataDir, "raft.db"))
	if err != nil {
		return nil, fmt.Errorf("cluster: open raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, rc.Logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cluster: snapshot store: %w", err)
	}
	var transport raft.Transport = cfg.Transport
	if transport == nil {
		bind, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("cluster: raft address %q: %w", cfg.RaftAddr, err)
		}
		lis, err := net.ListenTCP("tcp", bind)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("cluster: listen on %s: %w", cfg.RaftAddr, err)
		}
		recheck := cfg.PeerRecheck
		if recheck == 0 {
			recheck = DefaultPeerRecheck
		}
		refusals := cfg.Refusals
		if refusals == nil {
			refusals = tlsconf.NewRefusalLog(log, time.Minute)
		}
		// Advertise the address actually bound (port 0 picks one).
		n.layer = newStreamLayer(lis, cfg.TLS, recheck, log, refusals)
		transport = raft.NewNetworkTransportWithLogger(n.layer, 3, 10*time.Second, rc.Logger)
	}
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		closeTransport(transport)
		store.Close()
		return nil, fmt.Errorf("cluster: read state: %w", err)
	}
	// Replication reads back what was just appended; without a cache
	// every follower's batch decodes each entry from bolt again, and a
	// large apply (megabytes of YAML) pays for it once per follower.
	logs, err := raft.NewLogCache(logCacheSize, store)
	if err != nil {
		closeTransport(transport)
		store.Close()
		return nil, fmt.Errorf("cluster: log cache: %w", err)
	}
	r, err := raft.NewRaft(rc, n.fsm, logs, store, snaps, transport)
	if err != nil {
		closeTransport(transport)
		store.Close()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft, n.transport, n.store = r, transport, store
	// The leader learns which members answer from raft's heartbeat
	// observations (LiveMembers); the channel is drained at once.
	obs := make(chan raft.Observation, 64)
	r.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation, raft.LeaderObservation:
			return true
		}
		return false
	}))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case o := <-obs:
				n.live.observe(o, n.raft.LastContact())
			case <-n.done:
				return
			}
		}
	}()
	if existing {
		if err := n.checkMembersMode(); err != nil {
			n.Close()
			return nil, err
		}
	}
	if cfg.Bootstrap && !existing {
		f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}})
		if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.Close()
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	n.wg.Add(1)
	go n.forwardLeadership()
	log.Info("raft node started", "raft_addr", transport.LocalAddr(), "existing_state", existing, "bootstrap", cfg.Bootstrap && !existing)
	return n, nil
}

func closeTransport(t raft.Transport) {
	if c, ok := t.(raft.WithClose); ok {
		c.Close()
	}
}

// forwardLeadership passes raft's leadership notices on to Leadership,
// never blocking raft for long.
func (n *Node) forwardLeadership() {
	defer n.wg.Done()
	for {
		select {
		case l := <-n.notify:
			n.log.Info("raft leadership", "leader", l, "term", n.raft.CurrentTerm())
			select {
			case n.leadership <- l:
			case <-n.done:
				return
			}
		case <-n.done:
			return
		}
	}
}

func (n *Node) signalChange(index uint64) {
	select {
	case n.changes <- index:
	default:
		// A signal is pending; the reader will see the newest model.
	}
}

// Changes signals that the model changed; read Model for the newest. The
// channel holds at most one pending signal.
func (n *Node) Changes() <-chan uint64 { return n.changes }

// Leadership delivers true when this node becomes leader and false when
// it stops being leader, in order.
func (n *Node) Leadership() <-chan bool { return n.leadership }

// Model returns the current desired state and the log index it reflects.
func (n *Node) Model() (*policy.Model, uint64) { return n.fsm.current() }

// ModelRevision is the current model with its revision: the index of
// the last entry that changed it (entries that change no model, such as
// a member's API address, leave it).
func (n *Node) ModelRevision() (*policy.Model, uint64) { return n.fsm.currentRevision() }

// Revision is the model's revision: the log index of the last change to
// it, 0 while no change ever reached it.
func (n *Node) Revision() uint64 {
	_, rev := n.fsm.currentRevision()
	return rev
}

// RaftAddr is the address raft listens on.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// IsLeader reports whether this node is the raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Term is the current raft term. A leader uses it as its P4Runtime
// election id, so a newer leader always outranks an older one.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Leader returns the leader's id and raft address, empty when unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// LastContact is when a follower last heard from the leader (zero if
// never; on the leader, when it last heard from a quorum).
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }

// leadershipErr turns raft's "not the leader" answers to a membership
// change into ErrNotLeader, which callers retry against the new leader.
func (n *Node) leadershipErr(op string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		id, addr := n.Leader()
		return fmt.Errorf("%w (leadership lost during %s: %v)", &ErrNotLeader{LeaderID: id, LeaderAddr: addr}, op, err)
	}
	return fmt.Errorf("cluster: %s: %w", op, err)
}

// Apply replicates documents (YAML, as in a policy file) and returns once
// they are committed and applied. Documents that do not validate against
// the current state are refused, on every node, with the validation
// errors; nothing of them is applied.
func (n *Node) Apply(ctx context.Context, file string, docs []byte) (Result, error) {
	p, err := n.Prepare(ctx, file, docs)
	if err != nil {
		return Result{}, err
	}
	return n.Commit(ctx, p)
}

// Delete removes objects by kind and name, all or none.
func (n *Node) Delete(ctx context.Context, dels []policy.Deletion) (Result, error) {
	p, err := n.PrepareDelete(ctx, dels)
	if err != nil {
		return Result{}, err
	}
	return n.Commit(ctx, p)
}

// Proposal is a change validated against the state it was prepared on,
// ready to commit. Next is the model it leads to; the leader's state
// machine adopts it if nothing was applied in between, instead of parsing
// and validating the same documents a second time.
type Proposal struct {
	data []byte  // the log entry
	cmd  command // what data holds
	base *policy.Model
	next *policy.Model
	res  Result
}

// Next is the model the proposal leads to from the state it was prepared
// on.
func (p *Proposal) Next() *policy.Model { return p.next }

// Warnings are validation's warnings about the change.
func (p *Proposal) Warnings() []string { return p.res.Warnings }

// Unchanged reports whether the proposal leaves the model as it is.
func (p *Proposal) Unchanged() bool {
	return p.base == p.next || len(policy.Changes(p.base, p.next)) == 0
}

// Base is the model revision the proposal was prepared on.
func (p *Proposal) Base() uint64 { return *p.cmd.Base }

// Prepare parses and validates documents against the current state:
// what cannot validate is refused before it reaches the log. The change
// records the client WithClient put in ctx, and the time.
func (n *Node) Prepare(ctx context.Context, file string, docs []byte) (*Proposal, error) {
	return n.prepare(ctx, command{Op: "apply", File: file, Docs: string(docs)})
}

// PrepareFiles is Prepare of several files as one change: validated
// together (a Port in one may name a Segment in another), committed or
// refused together, errors naming each document's file. With a context
// from WithPrune, the objects the files do not name are removed in the
// same change.
func (n *Node) PrepareFiles(ctx context.Context, srcs []Source) (*Proposal, error) {
	if prune, rev := pruneOf(ctx); prune {
		return n.prepareReplace(ctx, srcs, rev)
	}
	if len(srcs) == 1 {
		return n.Prepare(ctx, srcs[0].File, []byte(srcs[0].Docs))
	}
	return n.prepare(ctx, command{Op: "apply", Files: srcs})
}

// PrepareDelete validates the removal of objects against the current
// state.
func (n *Node) PrepareDelete(ctx context.Context, dels []policy.Deletion) (*Proposal, error) {
	return n.prepare(ctx, command{Op: "delete", Delete: dels})
}

func (n *Node) prepare(ctx context.Context, cmd command) (*Proposal, error) {
	m, rev := n.fsm.currentRevision()
	return n.prepareAt(ctx, cmd, m, rev)
}

// prepareAt validates cmd against model m at revision rev.
func (n *Node) prepareAt(ctx context.Context, cmd command, m *policy.Model, rev uint64) (*Proposal, error) {
	cmd.Time, cmd.Client = time.Now().UTC(), ClientOf(ctx)
	cmd.Base = &rev
	next, res, err := next(m, cmd)
	if err != nil {
		return nil, err
	}
	if cmd.Op == "apply" && res.Objects == 0 {
		// Nothing to commit: say so rather than log an empty change.
		file := cmd.File
		for _, src := range cmd.Files {
			file = cmp.Or(file, src.File)
		}
		return nil, policy.Errors{&policy.Error{Src: policy.Source{File: file}, Msg: "no documents"}}
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	return &Proposal{data: b, cmd: cmd, base: m, next: next, res: res}, nil
}

// Commit replicates a prepared change and returns once it is committed
// and applied. If another change to the model was applied since Prepare,
// every node refuses it with ErrStale, and nothing changes: prepare it
// again (the caller's checks, such as capacity, held for the model it was
// prepared on only).
func (n *Node) Commit(ctx context.Context, p *Proposal) (Result, error) {
	if p.Unchanged() {
		// Nothing to replicate: an identical re-apply makes no revision.
		res := p.res
		res.Index, res.Unchanged = p.Base(), true
		return res, nil
	}
	n.fsm.offer(p)
	defer n.fsm.withdraw(p)
	return n.submit(ctx, p.data)
}

func (n *Node) propose(ctx context.Context, cmd command) (Result, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return Result{}, err
	}
	return n.submit(ctx, b)
}

// submit commits log entry b if this node leads, and times it.
func (n *Node) submit(ctx context.Context, b []byte) (Result, error) {
	if !n.IsLeader() {
		id, addr := n.Leader()
		return Result{}, &ErrNotLeader{LeaderID: id, LeaderAddr: addr}
	}
	start := time.Now()
	res, err := n.commit(ctx, b)
	n.observeCommit(start, err)
	return res, err
}

// commit hands b to raft and waits for its result.
func (n *Node) commit(ctx context.Context, b []byte) (Result, error) {
	timeout := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := n.raft.Apply(b, timeout)
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				id, addr := n.Leader()
				return Result{}, fmt.Errorf("%w (leadership lost while committing: %v)", &ErrNotLeader{LeaderID: id, LeaderAddr: addr}, err)
			}
			return Result{}, fmt.Errorf("cluster: commit: %w", err)
		}
	case <-ctx.Done():
		return Result{}, fmt.Errorf("cluster: commit not confirmed (no quorum?): %w", ctx.Err())
	}
	r := f.Response().(fsmResult)
	return r.res, r.err
}

// SetAPIAddr records member id's API address in the replicated state
// (empty removes it). It must run on the leader.
func (n *Node) SetAPIAddr(ctx context.Context, id, addr string) error {
	_, err := n.propose(ctx, command{Op: "member", Member: id, API: addr})
	return err
}

// APIAddr is member id's API address, if it recorded one.
func (n *Node) APIAddr(id string) string { return n.fsm.api(id) }

// ErrStale is wrapped by the refusal of a change prepared on a model that
// another change replaced before it committed.
var ErrStale = errors.New("the model changed since the change was prepared")

// ErrMembership is wrapped by a join refused because it would corrupt
// the membership: an id that a member has at another address, or an
// address that another member has.
var ErrMembership = errors.New("membership conflict")

// Join adds a voting member. It must run on the leader. A member that
// joins again with its own id and address (a node restarted on its own
// data dir) is already there and nothing changes; a join that reuses a
// member's id with another address, or another id with a member's
// address, is refused (ErrMembership) rather than overwrite the member.
// The address is dialled first, so a typo is an error here rather than a
// member raft retries forever.
func (n *Node) Join(ctx context.Context, id, addr string) error {
	if !n.IsLeader() {
		lid, laddr := n.Leader()
		return &ErrNotLeader{LeaderID: lid, LeaderAddr: laddr}
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster: join %s: %w", id, err)
	}
	for _, srv := range f.Configuration().Servers {
		sid, saddr := string(srv.ID), string(srv.Address)
		switch {
		case sid == id && saddr == addr:
			n.log.Info("member joined again", "member", id, "raft_addr", addr)
			return nil
		case sid == id:
			return fmt.Errorf("cluster: join of %s at %s refused: member %s is at %s (give the new node another --node-id, or remove the member with `p4ctl cluster leave %s` if it moved): %w",
				id, addr, sid, saddr, sid, ErrMembership)
		case saddr == addr:
			return fmt.Errorf("cluster: join of %s at %s refused: that raft address is member %s's: %w", id, addr, sid, ErrMembership)
		}
	}
	if err := n.checkPeer(id, addr, timeoutOf(ctx)); err != nil {
		return fmt.Errorf("cluster: join %s: %w", id, err)
	}
	add := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx))
	if err := add.Error(); err != nil {
		return n.leadershipErr(fmt.Sprintf("join %s at %s", id, addr), err)
	}
	n.log.Info("member joined", "member", id, "raft_addr", addr)
	return nil
}

// TransferLeadership hands leadership to member id, which must be a voter
// that is up to date enough to win; it must run on the leader.
func (n *Node) TransferLeadership(id string) error {
	for _, m := range n.Status().Members {
		if m.ID == id {
			if err := n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(m.Addr)).Error(); err != nil {
				return n.leadershipErr("transfer leadership to "+id, err)
			}
			return nil
		}
	}
	return fmt.Errorf("cluster: %s is not a member", id)
}

// Leave removes a member. It must run on the leader.
func (n *Node) Leave(ctx context.Context, id string) error {
	if !n.IsLeader() {
		lid, laddr := n.Leader()
		return &ErrNotLeader{LeaderID: lid, LeaderAddr: laddr}
	}
	found := false
	for _, m := range n.Status().Members {
		found = found || m.ID == id
	}
	if !found {
		return fmt.Errorf("cluster: %s is not a member", id)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx)).Error(); err != nil {
		return n.leadershipErr("remove "+id, err)
	}
	n.log.Info("member removed", "member", id)
	return nil
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 30 * time.Second
}

// Member is one server of the raft configuration.
type Member struct {
	ID       string `json:"id"`
	Addr     string `json:"raft_addr"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Status is a node's view of the cluster.
type Status struct {
	ID           string   `json:"id"`
	State        string   `json:"state"`
	Term         uint64   `json:"term"`
	LastIndex    uint64   `json:"last_index"`
	AppliedIndex uint64   `json:"applied_index"`
	LeaderID     string   `json:"leader_id"`
	LeaderAddr   string   `json:"leader_addr"`
	Members      []Member `json:"members"`
}

// Status reports the node's raft state and the members it knows.
func (n *Node) Status() Status {
	lid, laddr := n.Leader()
	s := Status{ID: n.cfg.ID, State: n.raft.State().String(), Term: n.raft.CurrentTerm(), LastIndex: n.raft.LastIndex(),
		AppliedIndex: n.appliedIndex(), LeaderID: lid, LeaderAddr: laddr}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			s.Members = append(s.Members, Member{ID: string(srv.ID), Addr: string(srv.Address), Suffrage: srv.Suffrage.String(), Leader: string(srv.ID) == lid})
		}
	}
	return s
}

// appliedIndex is the index of the last entry the state machine has
// applied. Raft's own AppliedIndex moves when an entry is handed to the
// state machine, before it is applied, so a node that is replaying its
// log would report entries its model does not reflect yet.
func (n *Node) appliedIndex() uint64 {
	_, at := n.fsm.current()
	return at
}

// Snapshot takes a snapshot now.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// WaitApplied waits until this node's state machine has applied the
// command at index (a Result.Index). Raft's own applied index moves when
// entries are handed to the state machine, before it has applied them, so
// this watches the state machine itself.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		if _, at := n.fsm.current(); at >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			_, at := n.fsm.current()
			return fmt.Errorf("cluster: %s applied %d, waiting for %d: %w", n.cfg.ID, at, index, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Barrier waits, on the leader, until every entry in the log has been
// applied to the state machine (after a restart, the log is replayed only
// once the leader commits in its new term).
func (n *Node) Barrier(ctx context.Context) error {
	if err := n.raft.Barrier(timeoutOf(ctx)).Error(); err != nil {
		return fmt.Errorf("cluster: barrier: %w", err)
	}
	return nil
}

// Close stops raft and releases the store. The node leaves nothing
// running.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		close(n.done)
		n.wg.Wait()
		if n.transport != nil {
			closeTransport(n.transport)
		}
		if n.store != nil {
			if cerr := n.store.Close(); err == nil {
				err = cerr
			}
		}
		n.log.Info("raft node stopped")
	})
	return err
}

// checkPeer reaches the member id at addr as raft will: over TLS with its
// certificate checked when this node has TLS (saying so when the member
// turns out to speak plaintext), else in plaintext.
func (n *Node) checkPeer(id, addr string, timeout time.Duration) error {
	if n.layer == nil {
		return nil // a transport of the caller's: nothing to dial
	}
	c, err := n.layer.Dial(raft.ServerAddress(addr), min(timeout, 5*time.Second))
	if err != nil {
		if plaintextPeer(err) {
			return fmt.Errorf("member %s at %s speaks plaintext raft and this node uses TLS: a cluster cannot mix TLS and plaintext members (start %s with --tls-cert, --tls-key and --tls-ca): %w", id, addr, id, err)
		}
		return fmt.Errorf("cannot reach its raft address %s: %w", addr, err)
	}
	return c.Close()
}

// plaintextPeer reports whether a TLS dial failed because the other side
// does not speak TLS: a plaintext raft node reads the handshake as an
// unknown RPC and hangs up, where a TLS node that refuses this one's
// certificate says so with an alert.
func plaintextPeer(err error) bool {
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	var op *net.OpError
	switch {
	case errors.As(err, &alert):
		return false
	case errors.As(err, &rh), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return false
	}
	return false
}

// checkMembersMode, on a TLS node restarted on its state, refuses to
// start when a member that can be reached now speaks plaintext raft: raft
// would otherwise fail on every connection without saying why. (A
// plaintext node among TLS members is refused by them, and each logs
// why.)
func (n *Node) checkMembersMode() error {
	if n.cfg.TLS == nil || n.layer == nil {
		return nil
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(f.Configuration().Servers))
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == n.cfg.ID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := n.layer.Dial(srv.Address, time.Second)
			if err == nil {
				c.Close()
			} else if plaintextPeer(err) {
				errs <- fmt.Errorf("cluster: member %s at %s speaks plaintext raft and this node was started with TLS: a cluster cannot mix TLS and plaintext members", srv.ID, srv.Address)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
