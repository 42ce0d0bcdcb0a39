package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// maxDiffs bounds the differences a check lists.
const maxDiffs = 8

// canonicalModel maps each object of YAML documents to its canonical
// form (policy.Marshal of the object alone), keyed by its Ref ("Endpoint
// ep-1"), so that models compare whatever their documents' order,
// quoting or layout.
func canonicalModel(file string, docs []byte) (map[string]string, error) {
	objs, err := policy.Parse(file, bytes.NewReader(docs))
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(objs))
	for _, o := range objs {
		if _, dup := out[o.Ref()]; dup {
			return nil, fmt.Errorf("%s: %s twice", file, o.Ref())
		}
		out[o.Ref()] = string(policy.Marshal([]policy.Object{o}))
	}
	return out, nil
}

// compareModels lists how each node's model differs from the first
// node's (by name order): objects missing, extra, or different. Nothing
// listed means every model is equal.
func compareModels(models map[string]map[string]string) []string {
	nodes := slices.Sorted(maps.Keys(models))
	if len(nodes) < 2 {
		return nil
	}
	ref := models[nodes[0]]
	var diffs []string
	for _, n := range nodes[1:] {
		m := models[n]
		for _, k := range slices.Sorted(maps.Keys(ref)) {
			v, ok := m[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("%s: %s missing (on %s)", n, k, nodes[0]))
			case v != ref[k]:
				diffs = append(diffs, fmt.Sprintf("%s: %s differs from %s's", n, k, nodes[0]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if _, ok := ref[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: %s extra (not on %s)", n, k, nodes[0]))
			}
		}
	}
	return diffs
}

// lostWrites lists the acknowledged endpoints (name -> document sent)
// that some node's final model lacks or holds differently, one line per
// endpoint and node, and the number of distinct endpoints lost.
func lostWrites(acked map[string][]byte, models map[string]map[string]string) ([]string, int, error) {
	want := map[string]string{}
	for name, doc := range acked {
		m, err := canonicalModel(name, doc)
		if err != nil {
			return nil, 0, fmt.Errorf("acknowledged document %s: %w", name, err)
		}
		ref := policy.KindEndpoint + " " + name
		v, ok := m[ref]
		if !ok || len(m) != 1 {
			return nil, 0, fmt.Errorf("acknowledged document %s is not one endpoint %s", name, name)
		}
		want[ref] = v
	}
	var lines []string
	lost := map[string]bool{}
	for _, ref := range slices.Sorted(maps.Keys(want)) {
		for _, n := range slices.Sorted(maps.Keys(models)) {
			got, ok := models[n][ref]
			switch {
			case !ok:
				lines = append(lines, fmt.Sprintf("%s missing on %s", ref, n))
				lost[ref] = true
			case got != want[ref]:
				lines = append(lines, fmt.Sprintf("%s on %s differs from the document acknowledged", ref, n))
				lost[ref] = true
			}
		}
	}
	return lines, len(lost), nil
}

// committedFailures counts the endpoints whose apply failed that the
// model nonetheless holds (a commit whose answer was lost: allowed).
func committedFailures(failed map[string][]byte, model map[string]string) int {
	n := 0
	for name := range failed {
		if _, ok := model[policy.KindEndpoint+" "+name]; ok {
			n++
		}
	}
	return n
}

// revisionString is a revision in a form two nodes' histories compare by.
func revisionString(r *p4ctlv1.Revision) string {
	return fmt.Sprintf("%d %d %q %q +%q ~%q -%q", r.GetIndex(), r.GetTimeUnixNano(), r.GetClient(), r.GetSummary(),
		r.GetAdded(), r.GetChanged(), r.GetRemoved())
}

// compareHistories lists how each node's history differs from the first
// node's: length, then the first revisions that differ.
func compareHistories(hs map[string][]string) []string {
	nodes := slices.Sorted(maps.Keys(hs))
	if len(nodes) < 2 {
		return nil
	}
	ref := hs[nodes[0]]
	var diffs []string
	for _, n := range nodes[1:] {
		h := hs[n]
		if len(h) != len(ref) {
			diffs = append(diffs, fmt.Sprintf("%s: %d revisions, %s %d", n, len(h), nodes[0], len(ref)))
		}
		for i := range min(len(h), len(ref)) {
			if h[i] != ref[i] {
				diffs = append(diffs, fmt.Sprintf("%s: revision %d is %s; on %s %s", n, i, h[i], nodes[0], ref[i]))
			}
		}
	}
	return diffs
}

// compareCounts lists the tables whose counts differ between a and b
// (a table absent from one counts 0 there).
func compareCounts(aName string, a map[string]int, bName string, b map[string]int) []string {
	tables := map[string]bool{}
	for t := range a {
		tables[t] = true
	}
	for t := range b {
		tables[t] = true
	}
	var diffs []string
	for _, t := range slices.Sorted(maps.Keys(tables)) {
		if a[t] != b[t] {
			diffs = append(diffs, fmt.Sprintf("%s: %s %d, %s %d", t, aName, a[t], bName, b[t]))
		}
	}
	return diffs
}

// compiled is a fresh compile of a model's documents: entries per device
// and table, multicast groups per device, and each device's P4Info.
type compiled struct {
	counts map[string]map[string]int
	groups map[string]int
	info   map[string]*pipeline.Info
}

// compileDocs parses, builds and compiles documents as `p4ctl apply
// --dry-run` does, with the embedded pipelines.
func compileDocs(file string, docs []byte) (*compiled, error) {
	objs, err := policy.Parse(file, bytes.NewReader(docs))
	if err != nil {
		return nil, err
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		return nil, err
	}
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		return nil, err
	}
	out := &compiled{counts: c.Stats().Devices, groups: map[string]int{}, info: map[string]*pipeline.Info{}}
	for dev := range m.Devices {
		_, groups, err := c.DeviceEntries(dev)
		if err != nil {
			return nil, err
		}
		out.groups[dev] = len(groups)
		out.info[dev] = c.DeviceInfo(dev)
	}
	return out, nil
}

// readElection is the election id of the run's reader: below every
// leader's and followers' ids in practice (theirs are 1 + a 32-bit hash of
// the node id), so it reads as a backup and never takes a device.
var readElection = p4rt.ElectionID{Low: 1}

// readDevice reads every table entry and multicast group of the device
// at addr and counts entries per table, naming tables by in.
func readDevice(ctx context.Context, addr string, in *pipeline.Info) (map[string]int, int, error) {
	if in == nil {
		return nil, 0, errors.New("no P4Info for the device")
	}
	s, err := p4rt.Connect(addr, p4rt.Options{DeviceID: 1, ElectionID: readElection})
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	// A wildcard read of every table, decoded as messages: slower than
	// ReadKeys but independent of the compact key encoding.
	counts := map[string]int{}
	all := []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{}}}}
	err = s.Read(ctx, all, func(e *p4v1.Entity) error {
		te := e.GetTableEntry()
		if te == nil {
			return fmt.Errorf("read returned a %T", e.GetEntity())
		}
		name := fmt.Sprintf("table %d", te.GetTableId())
		if t, ok := in.TableByID(te.GetTableId()); ok {
			name = t.Name
		}
		counts[name]++
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	groups, err := s.ReadGroups(ctx)
	if err != nil {
		return nil, 0, err
	}
	return counts, len(groups), nil
}

// toInts converts the Devices RPC's counts, dropping zeros as the
// compiler's counts do.
func toInts(m map[string]int64) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = int(v)
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// clip keeps the first maxDiffs lines and says how many it left out.
func clip(lines []string) []string {
	if len(lines) <= maxDiffs {
		return lines
	}
	return append(slices.Clone(lines[:maxDiffs]), fmt.Sprintf("... and %d more", len(lines)-maxDiffs))
}

// converged is the state the cluster reached: every node on one applied
// index and leader, the leader's devices in sync with the final model.
type converged struct {
	leader      *node
	applied     uint64
	lastChange  uint64 // index of the newest revision: the final model
	devices     []*p4ctlv1.DeviceStatus
	statusLines []string
	// modelLag is how far the model of the node furthest behind trailed
	// the applied index every node reported.
	modelLag   uint64
	modelIndex uint64 // the index every node's model reflects (Get)
}

// convergedNow checks once whether the cluster has converged, and says
// why not.
func (c *cluster) convergedNow(ctx context.Context) (*converged, error) {
	out := &converged{}
	leaderID := ""
	for i, n := range c.nodes {
		st, err := c.status(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.id, err)
		}
		out.statusLines = append(out.statusLines, fmt.Sprintf("%s %s term %d applied %d last %d leader %q",
			n.id, st.GetState(), st.GetTerm(), st.GetAppliedIndex(), st.GetLastIndex(), st.GetLeader()))
		if st.GetLeader() == "" {
			return out, fmt.Errorf("%s knows no leader", n.id)
		}
		if i == 0 {
			leaderID, out.applied = st.GetLeader(), st.GetAppliedIndex()
			continue
		}
		if st.GetLeader() != leaderID {
			return out, fmt.Errorf("%s follows %s, %s follows %s", n.id, st.GetLeader(), c.nodes[0].id, leaderID)
		}
		if st.GetAppliedIndex() != out.applied {
			return out, fmt.Errorf("%s applied %d, %s %d", n.id, st.GetAppliedIndex(), c.nodes[0].id, out.applied)
		}
	}
	// A node's applied index is what raft handed its state machine, which
	// may not have applied it yet: the model's own index (Get) must agree
	// on every node too.
	var modelIdx []uint64
	for _, n := range c.nodes {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		g, err := n.api.Get(gctx, &p4ctlv1.GetRequest{Kind: policy.KindSegment})
		cancel()
		if err != nil {
			return out, fmt.Errorf("%s: get: %w", n.id, err)
		}
		modelIdx = append(modelIdx, g.GetIndex())
		out.modelLag = max(out.modelLag, out.applied-min(out.applied, g.GetIndex()))
	}
	out.modelIndex = modelIdx[0]
	for i, n := range c.nodes {
		if modelIdx[i] != modelIdx[0] {
			return out, fmt.Errorf("%s's model is at index %d, %s's at %d (applied %d)", n.id, modelIdx[i], c.nodes[0].id, modelIdx[0], out.applied)
		}
	}
	for _, n := range c.nodes {
		if n.id == leaderID {
			out.leader = n
		}
	}
	if out.leader == nil {
		return out, fmt.Errorf("leader %q is no node of the run", leaderID)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h, err := out.leader.api.History(cctx, &p4ctlv1.HistoryRequest{})
	if err != nil {
		return out, fmt.Errorf("history of %s: %w", out.leader.id, err)
	}
	if rs := h.GetRevisions(); len(rs) > 0 {
		out.lastChange = rs[len(rs)-1].GetIndex()
	}
	if out.modelIndex < out.lastChange {
		return out, fmt.Errorf("the models are at index %d, before the leader's last revision %d", out.modelIndex, out.lastChange)
	}
	ds, err := out.leader.api.Devices(cctx, &p4ctlv1.DevicesRequest{FromLeader: true})
	if err != nil {
		return out, fmt.Errorf("devices of %s: %w", out.leader.id, err)
	}
	out.devices = ds.GetDevices()
	if len(out.devices) != len(c.devs) {
		return out, fmt.Errorf("the leader reports %d devices", len(out.devices))
	}
	for _, d := range out.devices {
		// The model index is the raft index of the model compiled, which
		// is at least the newest revision's and at most the applied index
		// (entries after it, a leader's no-op or a member's address, do
		// not change the model).
		if !d.GetConnected() || !d.GetPrimary() || !d.GetInSync() || d.GetModelIndex() < out.lastChange || d.GetModelIndex() > out.applied {
			return out, fmt.Errorf("device %s: connected %t primary %t in sync %t model index %d (final model %d, applied %d) %s",
				d.GetName(), d.GetConnected(), d.GetPrimary(), d.GetInSync(), d.GetModelIndex(), out.lastChange, out.applied, d.GetLastError())
		}
	}
	return out, nil
}

// awaitConvergence polls convergedNow every 250 ms for at most
// ConvergeTimeout, and says how far a node's model trailed the applied
// index (ClusterStatus) at most while every node reported the same one.
func (c *cluster) awaitConvergence(ctx context.Context) (*converged, uint64, error) {
	deadline := time.Now().Add(c.cfg.ConvergeTimeout)
	var lag uint64
	for {
		cv, err := c.convergedNow(ctx)
		if cv != nil {
			lag = max(lag, cv.modelLag)
		}
		if err == nil {
			return cv, lag, nil
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			if cv != nil && len(cv.statusLines) > 0 {
				err = fmt.Errorf("%w [%s]", err, strings.Join(cv.statusLines, "; "))
			}
			return cv, lag, err
		}
		sleep(ctx, 250*time.Millisecond)
	}
}
