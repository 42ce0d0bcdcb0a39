package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// worker owns one device's session: it arbitrates with the node's role
// for the device (master or backup), and as the master's primary session
// brings the device to the desired state and keeps it there.
type worker struct {
	c   *Controller
	dev *policy.Device

	kick   chan struct{} // work is pending (buffered 1)
	role   chan struct{} // the node's role changed (buffered 1)
	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{} // closed when run returns

	mu   sync.Mutex
	sess *p4rt.Session // the session run holds now, for reads from other goroutines
	// cancelWork ends the write in flight, if any: the node's role
	// changed, and what it was writing is no longer its to write.
	cancelWork context.CancelFunc
	pending    []pendingDelta // deltas after the last full sync
	full       bool           // a full reconcile is needed
	st         DeviceStatus
}

// newWorker makes the worker of dev, whose life ends with parent (the
// controller's Run) or stop.
func newWorker(parent context.Context, c *Controller, dev *policy.Device) *worker {
	ctx, cancel := context.WithCancel(parent)
	return &worker{c: c, dev: dev, kick: make(chan struct{}, 1), role: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		full: true, st: DeviceStatus{Name: dev.Name, Address: dev.Address}}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (w *worker) stop() { w.cancel() }

// roleChanged tells the worker the node's role changed: the write in
// flight is cancelled at once, and the session arbitrates again on its
// live stream.
func (w *worker) roleChanged() {
	w.mu.Lock()
	if w.cancelWork != nil {
		w.cancelWork()
	}
	w.mu.Unlock()
	signal(w.role)
}

// pendingDelta is a device's change from the model before index.
type pendingDelta struct {
	*policy.DeviceDelta
	index uint64
}

func (w *worker) enqueue(d *policy.DeviceDelta, index uint64) {
	w.mu.Lock()
	switch {
	case d.Skipped:
		// Its entries were not built: only a full reconcile brings the
		// device to this model.
		w.full, w.pending = true, nil
	case !w.full:
		w.pending = append(w.pending, pendingDelta{d, index})
	}
	if d.Skipped || d.Len() > 0 {
		// Not in sync until it is written: a change compiled from the
		// topology (a cable learned) keeps the raft index, so the index
		// alone would not tell.
		w.st.InSync = false
		w.c.events.mark(w.dev.Name)
	}
	w.mu.Unlock()
	signal(w.kick)
}

// needsFull reports whether the worker's next write is a full reconcile
// (deltas would be dropped).
func (w *worker) needsFull() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.full
}

func (w *worker) setError(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st.LastError = err.Error()
	w.c.events.mark(w.dev.Name)
}

func (w *worker) status() DeviceStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	st.Entries = maps.Clone(w.st.Entries)
	return st
}

func (w *worker) update(f func(*DeviceStatus)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.st)
	w.c.events.mark(w.dev.Name) // published if a watcher would see it (events.go)
}

// run holds a session to the device until ctx or stop ends it, opening a
// new one only when the old one cannot be used; a role change
// re-arbitrates on the live stream (serve).
func (w *worker) run() {
	defer close(w.done)
	ctx := w.ctx
	log := w.c.log.With("device", w.dev.Name)
	for ctx.Err() == nil {
		w.c.mu.Lock()
		election, master := w.c.masterLocked(w.dev.Name)
		w.c.mu.Unlock()
		var dial []grpc.DialOption
		if w.c.cfg.DialOptions != nil {
			dial = w.c.cfg.DialOptions(w.dev)
		}
		s, err := p4rt.Connect(w.dev.Address, p4rt.Options{DeviceID: w.dev.DeviceID, ElectionID: election, DialOptions: dial, TLS: w.c.cfg.DeviceTLS, Logger: log,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second})
		if err != nil {
			w.setError(err)
			select {
			case <-ctx.Done():
			case <-time.After(w.c.cfg.RetryInterval):
			}
			continue
		}
		w.mu.Lock()
		w.full = true // a new session starts with a full reconcile
		w.pending = nil
		w.sess = s
		w.mu.Unlock()
		w.serve(ctx, s, master)
		w.mu.Lock()
		w.sess = nil
		w.mu.Unlock()
		s.Close()
		w.update(func(st *DeviceStatus) { st.Connected, st.Primary, st.InSync = false, false, false })
	}
}

// serve runs one session until ctx ends or the session cannot be used;
// master is whether this node masters the device.
func (w *worker) serve(ctx context.Context, s *p4rt.Session, master bool) {
	var retry <-chan time.Time
	probe := time.NewTicker(w.c.cfg.ProbeInterval)
	defer probe.Stop()
	probeSoon := false
	// Until the device first answers the arbitration, a silent device
	// (TCP accepted, no P4Runtime spoken) is reported when this fires.
	silent := time.NewTimer(w.c.cfg.AnswerTimeout)
	defer silent.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.role:
			// The role changed: arbitrate again on the live stream with
			// the new role's id (ONOS does the same), rather than close
			// the session and open another. A new master reconciles in
			// full, since it wrote nothing as a backup.
			w.c.mu.Lock()
			election, nowMaster := w.c.masterLocked(w.dev.Name)
			w.c.mu.Unlock()
			if err := s.Rearbitrate(election); err != nil {
				w.setError(err)
				return // a new session arbitrates with the new id
			}
			if nowMaster {
				w.mu.Lock()
				w.full, w.pending = true, nil
				w.mu.Unlock()
			}
			master = nowMaster
			w.update(func(st *DeviceStatus) {
				if !master {
					st.InSync = false // a backup does not keep the device
				}
			})
			continue
		case <-silent.C:
			msg := fmt.Sprintf("no arbitration answer from %s after %s (not a P4Runtime server, another device id, or hung)", w.dev.Address, w.c.cfg.AnswerTimeout)
			if last := s.Mastership().Err; last != nil {
				msg += ": " + last.Error()
			}
			w.update(func(st *DeviceStatus) { st.LastError, st.InSync = msg, false })
			w.c.metrics.failures.WithLabelValues(w.dev.Name).Inc()
			w.c.log.Warn("device silent", "device", w.dev.Name, "err", msg)
			continue
		case pin := <-s.PacketIn():
			w.packetIn(pin)
			continue
		case dl := <-s.Digests():
			w.digest(s, dl)
			continue
		case <-probe.C:
			if master && s.IsPrimary() {
				w.probe(s)
			}
			continue
		case m := <-s.MastershipChanges():
			if m.Err == nil {
				silent.Stop()
			} else {
				// Every failed connection or broken stream is a failed
				// attempt, so devices that never come up are counted too.
				w.c.metrics.failures.WithLabelValues(w.dev.Name).Inc()
			}
			w.update(func(st *DeviceStatus) {
				st.Connected, st.Primary, st.PrimaryElectionID = m.Err == nil, m.Primary, m.PrimaryID.String()
				switch {
				case m.Err != nil:
					st.LastError, st.InSync = m.Err.Error(), false
				case master && !m.Primary:
					// Another client took the device: whatever it writes
					// is not the policy, and this node cannot write.
					st.LastError, st.InSync = lostMastership(m, s.ElectionID()), false
				}
			})
			if master && m.Err == nil && !m.Primary {
				w.c.log.Warn("device mastership lost to another client", "device", w.dev.Name, "primary_election_id", m.PrimaryID, "election_id", s.ElectionID())
			}
			if m.Err != nil || !m.Primary {
				// Reconnected streams start over with a full reconcile.
				w.mu.Lock()
				w.full, w.pending = true, nil
				w.mu.Unlock()
				continue
			}
			probeSoon = master // once the device is programmed
		case <-w.kick:
		case <-retry:
			retry = nil
		}
		if m := s.Mastership(); !master || !m.Primary || m.PrimaryID != s.ElectionID() || s.ElectionID() != w.masterElection() {
			continue // not (yet) the device's primary with this role's id
		}
		wctx, cancel := context.WithCancel(ctx)
		w.mu.Lock()
		w.cancelWork = cancel
		w.mu.Unlock()
		err := w.work(wctx, s)
		w.mu.Lock()
		w.cancelWork = nil
		w.mu.Unlock()
		roleChanged := wctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if roleChanged {
				// Cancelled by a role change: not a failure of the
				// device; the role case runs next.
				w.mu.Lock()
				w.full, w.pending = true, nil
				w.mu.Unlock()
				continue
			}
			w.update(func(st *DeviceStatus) {
				st.LastError, st.InSync, st.WriteDone, st.WriteTotal = err.Error(), false, 0, 0
			})
			w.c.metrics.failures.WithLabelValues(w.dev.Name).Inc()
			w.c.log.Warn("device sync failed", "device", w.dev.Name, "err", err)
			w.mu.Lock()
			w.full, w.pending = true, nil
			w.mu.Unlock()
			retry = time.After(w.c.cfg.RetryInterval)
			continue
		}
		if probeSoon {
			probeSoon = false
			w.probe(s)
		}
	}
}

// work brings the device up to date: a full reconcile if one is due, then
// the pending deltas in order.
func (w *worker) work(ctx context.Context, s *p4rt.Session) error {
	w.mu.Lock()
	full := w.full
	w.mu.Unlock()
	if full {
		// A member taking the device over must not write it a model
		// older than its previous master did.
		if err := w.c.catchUp(ctx); err != nil {
			return err
		}
		return w.reconcile(ctx, s)
	}
	for {
		w.mu.Lock()
		if w.full {
			w.mu.Unlock()
			return w.reconcile(ctx, s)
		}
		if len(w.pending) == 0 {
			w.mu.Unlock()
			return nil
		}
		d := w.pending[0]
		w.pending = w.pending[1:]
		w.mu.Unlock()
		plan := p4rt.Plan{Insert: d.Insert, Modify: d.Modify, Delete: d.Delete,
			Groups: p4rt.GroupPlan{Insert: d.GroupInsert, Modify: d.GroupModify, Delete: d.GroupDelete}}
		start := time.Now()
		if err := w.write(ctx, s, plan); err != nil {
			return fmt.Errorf("write delta: %w", err)
		}
		w.c.metrics.observeWrite(w.dev.Name, "delta", start, plan)
		w.c.mu.Lock()
		counts := w.c.compiler.Counts(w.dev.Name)
		w.c.mu.Unlock()
		w.update(func(st *DeviceStatus) { st.Entries, st.InSync, st.LastError, st.ModelIndex = counts, true, "", d.index })
	}
}

// reconcile pushes the pipeline if the device runs another one, then
// makes the device equal to the full desired state.
func (w *worker) reconcile(ctx context.Context, s *p4rt.Session) error {
	p, err := w.c.cfg.Targets(w.dev.Target)
	if err != nil {
		return err
	}
	if err := p.Pushable(); err != nil {
		return err
	}
	pushStart := time.Now()
	pushed, err := s.EnsurePipeline(ctx, p)
	if err != nil {
		return err
	}
	release, err := w.takeBudget(ctx)
	if err != nil {
		return err
	}
	defer release()
	want, err := w.c.desired(ctx, w)
	if err != nil {
		return err
	}
	tables := make([]uint32, 0, len(p.Info.Tables()))
	for _, t := range p.Info.Tables() {
		tables = append(tables, t.ID)
	}
	start := time.Now()
	plan, err := s.PlanDevice(ctx, want.entries, want.groups, tables...)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if err := w.write(ctx, s, plan); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	w.c.metrics.observeWrite(w.dev.Name, "reconcile", start, plan)
	w.configureDenials(ctx, s, p)
	attrs := []any{"device", w.dev.Name, "pipeline_push", string(pushed), "plan", plan.String(), "took", time.Since(start).Round(time.Millisecond)}
	if _, _, del := plan.Counts(); del > 0 {
		// Which tables lost entries says what was stale on the device.
		var tables []string
		for id, tc := range plan.PerTable() {
			if tc.Delete > 0 {
				name := fmt.Sprint(id)
				if t, ok := p.Info.TableByID(id); ok {
					name = t.Name
				}
				tables = append(tables, fmt.Sprintf("%s:%d", name, tc.Delete))
			}
		}
		slices.Sort(tables)
		attrs = append(attrs, "deleted", strings.Join(tables, ","))
	}
	w.c.log.Info("device reconciled", attrs...)
	w.update(func(st *DeviceStatus) {
		st.PipelineCookie, st.Entries, st.InSync, st.LastError, st.ModelIndex = p.Cookie, want.counts, true, "", want.index
		if pushed != p4rt.PushNone {
			// A VERIFY_AND_COMMIT empties the tables: the device enforced
			// nothing but its defaults from the push until the rewrite
			// ended. A reconciled push has no such gap.
			st.PipelinePush, st.PushGap = string(pushed), 0
			if pushed == p4rt.PushVerifyCommit {
				st.PushGap = time.Since(pushStart)
			}
		}
	})
	return nil
}

// takeBudget waits for the device's share of the reconcile budget, sized
// by the entries the compiler holds for it now, and returns the function
// that gives it back.
func (w *worker) takeBudget(ctx context.Context) (release func(), err error) {
	w.c.mu.Lock()
	entries := 0
	for _, n := range w.c.compiler.Counts(w.dev.Name) {
		entries += n
	}
	w.c.mu.Unlock()
	lease := w.c.budget.lease
	queued := func(q bool) { w.update(func(st *DeviceStatus) { st.Queued = q }) }
	release, err = w.c.budget.acquire(ctx, entries, queued, func() {
		w.c.log.Warn("reconcile still writing after its lease on the reconcile budget; its share is given back",
			"device", w.dev.Name, "entries", entries, "lease", lease)
	})
	if err != nil {
		return nil, err
	}
	if hook := w.c.onBudget; hook != nil {
		hook(w.dev.Name, 1)
		inner := release
		release = func() {
			hook(w.dev.Name, -1)
			inner()
		}
	}
	return release, nil
}

// write writes plan, keeping WriteDone and WriteTotal current for
// progress reports.
func (w *worker) write(ctx context.Context, s *p4rt.Session, plan p4rt.Plan) error {
	if plan.Empty() {
		return nil
	}
	ins, mod, del := plan.Counts()
	total := ins + mod + del + plan.Groups.Len()
	w.update(func(st *DeviceStatus) { st.WriteDone, st.WriteTotal = 0, total })
	o := w.c.cfg.Bulk
	o.OnBatch = func(n int) { w.update(func(st *DeviceStatus) { st.WriteDone += n }) }
	err := s.WritePlan(ctx, plan, o)
	w.update(func(st *DeviceStatus) { st.WriteDone, st.WriteTotal = 0, 0 })
	return err
}

// probe sends p4ctl's LLDP probe out of every port of the device the
// model or the device itself names, so that a switch on the other end
// punts it back and the link is learned (pkg/topo).
func (w *worker) probe(s *p4rt.Session) {
	p, err := w.c.cfg.Targets(w.dev.Target)
	if err != nil {
		return
	}
	md, ok := p.Info.PacketMetadata("packet_out")
	if !ok {
		return // a pipeline without packet-out cannot probe
	}
	ttl := w.c.ProbeTTL()
	for _, port := range w.c.probePorts(w.dev.Name) {
		if port == p.Target.CPUPort {
			continue
		}
		frame, err := topo.ProbeFrame(w.dev.Name, port, max(ttl, time.Second), "p4ctl "+w.c.cfg.Node.ID())
		if err != nil {
			continue
		}
		meta, err := md.EncodeMetadata(map[string]uint64{"egress_port": uint64(port)})
		if err != nil {
			continue // a port wider than the field: validation refuses such ports
		}
		if err := s.PacketOut(frame, meta...); err != nil {
			w.c.log.Debug("lldp probe", "device", w.dev.Name, "port", port, "err", err)
			return
		}
	}
}

// packetIn hands an LLDP packet-in to the topology and a denied frame
// (marked in packet_in._pad, where the pipeline has no denial digest) to
// the denial log; other punts (ARP, policy punts) are not the
// controller's to answer today.
func (w *worker) packetIn(pin *p4v1.PacketIn) {
	b := pin.GetPayload()
	lldp := len(b) >= 14 && b[12] == 0x88 && b[13] == 0xcc
	p, err := w.c.cfg.Targets(w.dev.Target)
	if err != nil {
		return
	}
	mark, marks := denialMark(p)
	if !lldp && !marks {
		return
	}
	md, ok := p.Info.PacketMetadata("packet_in")
	if !ok {
		return
	}
	vals, err := md.DecodeMetadata(pin.GetMetadata())
	if err != nil {
		w.c.log.Debug("packet-in metadata", "device", w.dev.Name, "err", err)
		return
	}
	port, ok := vals["ingress_port"]
	if !ok {
		return
	}
	if marks && vals["_pad"]&mark != 0 {
		w.c.logDeniedFrame(w.dev.Name, uint32(port), vals["_pad"]&^mark, b, time.Now())
		return
	}
	if !lldp {
		return
	}
	if err := w.c.topo.HandlePacketIn(w.dev.Name, uint32(port), b, time.Now()); err != nil {
		w.c.log.Debug("lldp packet-in", "err", err)
	}
}

// masterElection is the election id the node would write the device
// with now, as its master (zero when it is not): a session arbitrated
// with another id (the role changed and the re-arbitration is not
// through) must not write.
func (w *worker) masterElection() p4rt.ElectionID {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	id, master := w.c.masterLocked(w.dev.Name)
	if !master {
		return p4rt.ElectionID{}
	}
	return id
}

// lostMastership says why a leader's session is not primary: another
// client holds a higher election id, or held one (a device keeps the
// highest it has seen, and names no primary below it after that client
// leaves).
func lostMastership(m p4rt.Mastership, own p4rt.ElectionID) string {
	if m.Answer == codes.NotFound {
		return fmt.Sprintf("not primary: the device has no primary and has seen election id %s, above this node's %s (another P4Runtime client took it and left); this node writes nothing until that id is released or a client with a lower one takes over",
			m.PrimaryID, own)
	}
	return fmt.Sprintf("not primary: another P4Runtime client is primary with election id %s, above this node's %s; the device holds that client's entries, not the policy, until it disconnects",
		m.PrimaryID, own)
}
