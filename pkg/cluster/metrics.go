package cluster

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics are the measurements a node takes itself; the rest of what
// Collect reports is read from raft when scraped.
type nodeMetrics struct {
	commit   *prometheus.HistogramVec // by result: ok, error
	state    *prometheus.Desc
	term     *prometheus.Desc
	last     *prometheus.Desc
	applied  *prometheus.Desc
	members  *prometheus.Desc
	isLeader *prometheus.Desc
}

func newNodeMetrics() nodeMetrics {
	return nodeMetrics{
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "p4ctl_raft_commit_seconds",
			Help:    "Time from proposing a change on the leader to its commit and application, by result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}, []string{"result"}),
		state:    prometheus.NewDesc("p4ctl_raft_state", "1 for this node's raft state (follower, candidate, leader, shutdown).", []string{"state"}, nil),
		term:     prometheus.NewDesc("p4ctl_raft_term", "Current raft term.", nil, nil),
		last:     prometheus.NewDesc("p4ctl_raft_last_index", "Index of the last raft log entry.", nil, nil),
		applied:  prometheus.NewDesc("p4ctl_raft_applied_index", "Index of the last command the state machine applied.", nil, nil),
		members:  prometheus.NewDesc("p4ctl_raft_members", "Members in the raft configuration, by suffrage.", []string{"suffrage"}, nil),
		isLeader: prometheus.NewDesc("p4ctl_raft_leader", "1 when this node is the raft leader.", nil, nil),
	}
}

func (n *Node) observeCommit(start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	n.metrics.commit.WithLabelValues(result).Observe(time.Since(start).Seconds())
}

// Describe implements prometheus.Collector.
func (n *Node) Describe(ch chan<- *prometheus.Desc) {
	n.metrics.commit.Describe(ch)
	for _, d := range []*prometheus.Desc{n.metrics.state, n.metrics.term, n.metrics.last, n.metrics.applied, n.metrics.members, n.metrics.isLeader} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the node's raft state as of
// the scrape, and its commit latencies.
func (n *Node) Collect(ch chan<- prometheus.Metric) {
	n.metrics.commit.Collect(ch)
	m := n.metrics
	state := n.raft.State()
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, s.String())
	}
	leader := 0.0
	if state == raft.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(m.isLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(m.term, prometheus.GaugeValue, float64(n.raft.CurrentTerm()))
	ch <- prometheus.MustNewConstMetric(m.last, prometheus.GaugeValue, float64(n.raft.LastIndex()))
	_, at := n.fsm.current()
	ch <- prometheus.MustNewConstMetric(m.applied, prometheus.GaugeValue, float64(at))
	counts := map[string]int{}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			counts[srv.Suffrage.String()]++
		}
	}
	for _, s := range []raft.ServerSuffrage{raft.Voter, raft.Nonvoter, raft.Staging} {
		ch <- prometheus.MustNewConstMetric(m.members, prometheus.GaugeValue, float64(counts[s.String()]), s.String())
	}
}
