package controller

import (
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// metrics are the measurements the controller takes as it works; device
// state (connected, primary, entries) is read from the workers when
// scraped.
type metrics struct {
	apply     *prometheus.HistogramVec // op, result
	write     *prometheus.HistogramVec // device, kind (delta, reconcile)
	changes   *prometheus.CounterVec   // device, op (insert, modify, delete)
	failures  *prometheus.CounterVec   // device
	entries   *prometheus.Desc
	connected *prometheus.Desc
	primary   *prometheus.Desc
	master    *prometheus.Desc
	inSync    *prometheus.Desc
	// Policy hit counters (counters.go), from this node's totals.
	policyPackets, policyBytes, counterResets *prometheus.Desc
	// The denied-flow log (denials.go).
	denialReports, denialDropped, denialFlows *prometheus.Desc
	// The reconcile budget (budget.go).
	reconcileHeld, reconcileWaiting, reconcileLapsed *prometheus.Desc
}

func newMetrics() metrics {
	return metrics{
		apply: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "p4ctl_apply_seconds",
			Help:    "Time to check and commit an apply or delete (parse, validate, compile check, raft commit), by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms .. 32 s
		}, []string{"op", "result"}),
		write: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "p4ctl_device_write_seconds",
			Help:    "Time to write one change to a device: a delta, or a full reconcile (read, diff and write).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18), // 0.5 ms .. 65 s
		}, []string{"device", "kind"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p4ctl_device_changes_total",
			Help: "Table entries and multicast groups written to a device, by operation; reconcile differences and deltas alike.",
		}, []string{"device", "op"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "p4ctl_device_sync_failures_total",
			Help: "Failed attempts to bring a device to the desired state (retried).",
		}, []string{"device"}),
		entries:   prometheus.NewDesc("p4ctl_device_entries", "Entries the device holds, by table, as of its last sync.", []string{"device", "table"}, nil),
		connected: prometheus.NewDesc("p4ctl_device_connected", "1 when this node's P4Runtime stream to the device is up.", []string{"device"}, nil),
		primary:   prometheus.NewDesc("p4ctl_device_primary", "1 when this node is the device's primary controller.", []string{"device"}, nil),
		master:    prometheus.NewDesc("p4ctl_device_master", "1 when this node masters the device (the cluster's assignment); 0 for its backup sessions.", []string{"device"}, nil),
		inSync:    prometheus.NewDesc("p4ctl_device_in_sync", "1 when the device equals the desired state.", []string{"device"}, nil),
		policyPackets: prometheus.NewDesc("p4ctl_policy_packets_total",
			"Packets that hit a policy's entries on a device, from the policy tables' direct counters. Beyond the series cap, policies are summed under policy=\"_other\".",
			[]string{"device", "policy"}, nil),
		policyBytes: prometheus.NewDesc("p4ctl_policy_bytes_total",
			"Bytes that hit a policy's entries on a device (as policy_packets_total).", []string{"device", "policy"}, nil),
		counterResets: prometheus.NewDesc("p4ctl_policy_resets_total",
			"Reads that found a device's policy counters gone down (entries rewritten, a pipeline pushed, a restart): hits between the read before and the reset are lost.",
			[]string{"device"}, nil),
		denialReports: prometheus.NewDesc("p4ctl_denial_reports_total",
			"Denied packets the data plane reported (a rate-limited sample), by device and segment.", []string{"device", "segment"}, nil),
		denialDropped: prometheus.NewDesc("p4ctl_denial_reports_dropped_total",
			"Denial reports not logged: malformed, or naming a segment or identity the model does not have.", []string{"device", "reason"}, nil),
		denialFlows: prometheus.NewDesc("p4ctl_denial_flows", "Denied-flow records held (at most 10,000).", nil, nil),
		reconcileHeld: prometheus.NewDesc("p4ctl_reconcile_memory_bytes",
			"Estimated bytes the full reconciles in flight hold (their devices' desired states), bounded by --reconcile-memory-mib.", nil, nil),
		reconcileWaiting: prometheus.NewDesc("p4ctl_reconciles_waiting",
			"Full reconciles waiting for their share of --reconcile-memory-mib.", nil, nil),
		reconcileLapsed: prometheus.NewDesc("p4ctl_reconcile_leases_lapsed_total",
			"Full reconciles still writing when their share of --reconcile-memory-mib was given back after 2 minutes (a slow or wedged device).", nil, nil),
	}
}

func (m metrics) observeWrite(device, kind string, start time.Time, p p4rt.Plan) {
	m.write.WithLabelValues(device, kind).Observe(time.Since(start).Seconds())
	ins, mod, del := p.Counts()
	ins += len(p.Groups.Insert)
	mod += len(p.Groups.Modify)
	del += len(p.Groups.Delete)
	for op, n := range map[string]int{"insert": ins, "modify": mod, "delete": del} {
		if n > 0 {
			m.changes.WithLabelValues(device, op).Add(float64(n))
		}
	}
}

func (m metrics) observeApply(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.apply.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

// Describe implements prometheus.Collector.
func (c *Controller) Describe(ch chan<- *prometheus.Desc) {
	m := c.metrics
	m.apply.Describe(ch)
	m.write.Describe(ch)
	m.changes.Describe(ch)
	m.failures.Describe(ch)
	for _, d := range []*prometheus.Desc{m.entries, m.connected, m.primary, m.master, m.inSync, m.policyPackets, m.policyBytes, m.counterResets,
		m.denialReports, m.denialDropped, m.denialFlows, m.reconcileHeld, m.reconcileWaiting, m.reconcileLapsed} {
		ch <- d
	}
	c.flows.describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Controller) Collect(ch chan<- prometheus.Metric) {
	m := c.metrics
	m.apply.Collect(ch)
	m.write.Collect(ch)
	m.changes.Collect(ch)
	m.failures.Collect(ch)
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, d := range c.Devices() {
		ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, flag(d.Connected), d.Name)
		ch <- prometheus.MustNewConstMetric(m.primary, prometheus.GaugeValue, flag(d.Primary), d.Name)
		ch <- prometheus.MustNewConstMetric(m.master, prometheus.GaugeValue, flag(d.Master == c.cfg.Node.ID()), d.Name)
		ch <- prometheus.MustNewConstMetric(m.inSync, prometheus.GaugeValue, flag(d.InSync), d.Name)
		for _, t := range slices.Sorted(maps.Keys(d.Entries)) {
			ch <- prometheus.MustNewConstMetric(m.entries, prometheus.GaugeValue, float64(d.Entries[t]), d.Name, t)
		}
	}
	c.collectCounters(ch)
	ch <- prometheus.MustNewConstMetric(m.reconcileHeld, prometheus.GaugeValue, float64(c.budget.held.Load()))
	ch <- prometheus.MustNewConstMetric(m.reconcileWaiting, prometheus.GaugeValue, float64(c.budget.waiting.Load()))
	ch <- prometheus.MustNewConstMetric(m.reconcileLapsed, prometheus.CounterValue, float64(c.budget.lapsed.Load()))
	reports, dropped, flows := c.denials.counts()
	for k, n := range reports {
		ch <- prometheus.MustNewConstMetric(m.denialReports, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	for k, n := range dropped {
		ch <- prometheus.MustNewConstMetric(m.denialDropped, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(m.denialFlows, prometheus.GaugeValue, float64(flows))
	c.flows.collect(ch)
}

// collectCounters emits the policy hit counters. Each (device, policy)
// gets a series of its own, first come first served, until
// Config.MaxCounterSeries are taken; the rest of a device's policies are
// summed into policy="_other". Admission lasts for the process, so every
// series, _other included, only goes up.
func (c *Controller) collectCounters(ch chan<- prometheus.Metric) {
	m := c.metrics
	s := c.counters
	s.mu.Lock()
	devs := slices.Sorted(maps.Keys(s.devs))
	s.mu.Unlock()
	for _, name := range devs {
		st := s.device(name).snapshot()
		if st.ReadAt.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.counterResets, prometheus.CounterValue, float64(st.Resets), name)
		var other hits
		others := false
		for _, p := range st.Policies {
			k := [2]string{name, p.Policy}
			s.mu.Lock()
			own := s.series[k]
			if !own && len(s.series) < c.cfg.MaxCounterSeries {
				s.series[k], own = true, true
			}
			s.mu.Unlock()
			if !own {
				other.add(hits{p.Packets, p.Bytes})
				others = true
				continue
			}
			ch <- prometheus.MustNewConstMetric(m.policyPackets, prometheus.CounterValue, float64(p.Packets), name, p.Policy)
			ch <- prometheus.MustNewConstMetric(m.policyBytes, prometheus.CounterValue, float64(p.Bytes), name, p.Policy)
		}
		if others {
			ch <- prometheus.MustNewConstMetric(m.policyPackets, prometheus.CounterValue, float64(other.packets), name, "_other")
			ch <- prometheus.MustNewConstMetric(m.policyBytes, prometheus.CounterValue, float64(other.bytes), name, "_other")
		}
	}
}
