package access

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

var refusedDesc = prometheus.NewDesc("p4ctl_refused_peers_total",
	"Peers a listener (api, metrics, pprof, raft) refused, by reason: no certificate, expired, unknown authority, not authorized, role, handshake.",
	[]string{"listener", "reason"}, nil)

type refusalCollector struct{ r *tlsconf.RefusalLog }

// RefusalCollector exports r's counts as p4ctl_refused_peers_total.
func RefusalCollector(r *tlsconf.RefusalLog) prometheus.Collector { return refusalCollector{r} }

func (c refusalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- refusedDesc }

func (c refusalCollector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.r.Counts() {
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(n), k[0], k[1])
	}
}
