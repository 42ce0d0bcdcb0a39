package chaos

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// Run starts the cluster and the devices, applies the base policy, runs
// the writers and the nemesis for cfg.Duration, waits for convergence and
// checks the outcome. Every failure of the cluster, setup included, is in
// the report (Violations); the error is for a config Run cannot use. The
// work dir is removed when the run passes, unless cfg.KeepWorkDir.
func Run(ctx context.Context, cfg *Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.WorkDir, "p4ctl-chaos-")
	if err != nil {
		return nil, err
	}
	r := &Report{Seed: cfg.Seed, WorkDir: dir, Nodes: numNodes, Failed: map[string]int{}}
	c, err := newCluster(cfg, dir)
	if err != nil {
		r.Errors = append(r.Errors, "setup: "+err.Error())
		return r, nil
	}
	c.logf("work dir %s, seed %d, %d writers for %s", dir, cfg.Seed, cfg.Writers, cfg.Duration)
	c.run(ctx, r)
	c.close()
	r.UnexpectedExits = c.unexpectedExits()
	rs, err := c.logRemovals()
	if err != nil {
		r.Errors = append(r.Errors, "node logs: "+err.Error())
	}
	for _, x := range rs {
		r.Removals = append(r.Removals, x.String())
		r.RemovedEntries += x.deletes
	}
	r.AllowRemovals = cfg.AllowEntryRemovals
	if r.Passed() && !cfg.KeepWorkDir {
		if err := os.RemoveAll(dir); err != nil {
			c.logf("remove %s: %v", dir, err)
		} else {
			r.WorkDir += " (removed)"
		}
	}
	return r, nil
}

func (c *cluster) run(ctx context.Context, r *Report) {
	if err := c.start(ctx); err != nil {
		r.Errors = append(r.Errors, "setup: "+err.Error())
		return
	}
	if err := c.applyBase(ctx); err != nil {
		r.Errors = append(r.Errors, "setup: "+err.Error())
		return
	}
	c.logf("base policy applied, devices in sync; writing and faulting for %s", c.cfg.Duration)

	t := newTally()
	start := time.Now()
	deadline := start.Add(c.cfg.Duration)
	var faults []fault
	var wg sync.WaitGroup
	wg.Go(func() { faults = c.nemesis(ctx, start, deadline) })
	// The monitor runs until the checks begin.
	var mon monitorResult
	stopMonitor := make(chan struct{})
	var monWG sync.WaitGroup
	if iv := c.cfg.MonitorInterval; iv > 0 {
		rounds := int((c.cfg.Duration+c.cfg.ApplyTimeout+c.cfg.ConvergeTimeout+2*c.cfg.StartTimeout)/iv) + 1
		monWG.Go(func() { mon = c.monitor(ctx, stopMonitor, start, iv, rounds) })
	}
	endMonitor := sync.OnceFunc(func() {
		close(stopMonitor)
		monWG.Wait()
		r.MonitorSamples = mon.samples
		for _, d := range mon.drops {
			r.EntryDrops = append(r.EntryDrops, d.String())
		}
	})
	defer endMonitor()
	c.writers(ctx, deadline, t)
	end := time.Now()
	wg.Wait()
	r.Duration = end.Sub(start)
	r.Attempts, r.Acked, r.Failed, r.FailedDown = t.attempts, len(t.acked), t.failed, t.failedDown
	r.LongestGap, r.LongestGapFrom = longestGap(start, end, t.ackTimes)
	healed := end
	for _, f := range faults {
		r.Faults = append(r.Faults, fmt.Sprintf("at %s: %s", f.struck.Sub(start).Round(100*time.Millisecond), f))
		if !f.healed.IsZero() {
			healed = f.healed
		}
		if f.restart != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("%s did not come back: %v", f.target, f.restart))
		}
	}
	if ctx.Err() != nil {
		r.Errors = append(r.Errors, "interrupted: nothing checked")
		return
	}
	c.logf("writes done: %d attempts, %d acknowledged; waiting for convergence", r.Attempts, r.Acked)

	if err := c.ensureRunning(ctx); err != nil {
		r.Errors = append(r.Errors, "restart at the end: "+err.Error())
	}
	cv, lag, err := c.awaitConvergence(ctx)
	r.ModelLag = lag
	if err == nil {
		now := time.Now()
		r.Converged, r.ConvergeAfter, r.ConvergeFromEnd = true, now.Sub(healed), now.Sub(end)
		r.AppliedIndex, r.ModelIndex = cv.applied, cv.lastChange
		c.logf("converged at applied index %d", cv.applied)
	} else {
		r.ConvergeErr = err.Error()
		c.logf("no convergence: %v", err)
	}
	endMonitor()
	c.check(ctx, r, t, cv)
}

// check reads every node's model and history and every device's entries
// and compares them.
func (c *cluster) check(ctx context.Context, r *Report, t *tally, cv *converged) {
	models := map[string]map[string]string{}
	docs := map[string][]byte{}
	histories := map[string][]string{}
	for _, n := range c.nodes {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		g, err := n.api.Get(cctx, &p4ctlv1.GetRequest{})
		if err == nil {
			docs[n.id] = g.GetDocs()
			models[n.id], err = canonicalModel(n.id+" model", g.GetDocs())
		}
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("model of %s: %v", n.id, err))
			delete(models, n.id)
		}
		h, err := n.api.History(cctx, &p4ctlv1.HistoryRequest{})
		cancel()
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("history of %s: %v", n.id, err))
			continue
		}
		for _, rev := range h.GetRevisions() {
			histories[n.id] = append(histories[n.id], revisionString(rev))
		}
	}
	// The final state stays in the work dir (kept when the run fails) as
	// evidence.
	for id, d := range docs {
		c.save("final-model-"+id+".yaml", d)
	}
	for id, h := range histories {
		c.save("final-history-"+id+".txt", []byte(strings.Join(h, "\n")+"\n"))
	}
	r.ModelsRead, r.HistoriesRead = len(models), len(histories)
	nodes := slices.Sorted(maps.Keys(models))
	if len(nodes) > 0 {
		r.Objects = len(models[nodes[0]])
		r.FailedCommitted = committedFailures(t.failedEP, models[nodes[0]])
	}
	r.ModelDiffs = compareModels(models)
	lines, lost, err := lostWrites(t.acked, models)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
	}
	r.Lost, r.LostCount = lines, lost
	r.HistoryDiffs = compareHistories(histories)
	if hs := slices.Sorted(maps.Keys(histories)); len(hs) > 0 {
		r.Revisions = len(histories[hs[0]])
	}
	r.Devices = c.checkDevices(ctx, cv, docs)
}

// save writes a file of evidence into the work dir.
func (c *cluster) save(name string, b []byte) {
	if err := os.WriteFile(filepath.Join(c.dir, name), b, 0o644); err != nil {
		c.logf("save %s: %v", name, err)
	}
}

// checkDevices compares each device's entries, read from the device,
// with the leader's report and with a fresh compile of the leader's
// model.
func (c *cluster) checkDevices(ctx context.Context, cv *converged, docs map[string][]byte) []DeviceResult {
	var leader *node
	var statuses []*p4ctlv1.DeviceStatus
	if cv != nil && cv.leader != nil {
		leader, statuses = cv.leader, cv.devices
	} else if leader = c.leader(ctx); leader != nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if ds, err := leader.api.Devices(cctx, &p4ctlv1.DevicesRequest{FromLeader: true}); err == nil {
			statuses = ds.GetDevices()
		}
		cancel()
	}
	var out []DeviceResult
	fail := func(err string) []DeviceResult {
		for _, d := range c.devs {
			out = append(out, DeviceResult{Name: d.name, Err: err})
		}
		return out
	}
	if leader == nil || docs[leader.id] == nil {
		return fail("no leader's model to compare with")
	}
	comp, err := compileDocs(leader.id+" model", docs[leader.id])
	if err != nil {
		return fail("compile of the final model: " + err.Error())
	}
	for _, d := range c.devs {
		res := DeviceResult{Name: d.name, Compiled: comp.counts[d.name], WantGroups: comp.groups[d.name]}
		for _, st := range statuses {
			if st.GetName() == d.name {
				res.InSync, res.ModelIndex, res.Reported = st.GetInSync(), st.GetModelIndex(), toInts(st.GetEntries())
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res.Read, res.ReadGroups, err = readDevice(cctx, d.addr, comp.info[d.name])
		cancel()
		if err != nil {
			res.Err = "read: " + err.Error()
			out = append(out, res)
			continue
		}
		if !res.InSync {
			res.Diffs = append(res.Diffs, "the leader does not report it in sync")
		}
		res.Diffs = append(res.Diffs, compareCounts("read", res.Read, "reported", res.Reported)...)
		res.Diffs = append(res.Diffs, compareCounts("read", res.Read, "compiled", res.Compiled)...)
		if res.ReadGroups != res.WantGroups {
			res.Diffs = append(res.Diffs, fmt.Sprintf("multicast groups: read %d, compiled %d", res.ReadGroups, res.WantGroups))
		}
		out = append(out, res)
	}
	return out
}
