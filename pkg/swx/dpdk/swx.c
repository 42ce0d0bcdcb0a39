//go:build swx

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <inttypes.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_bus_vdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_swx_pipeline.h>
#include <rte_swx_ctl.h>

#include "swx.h"

static void table_entry_free(struct rte_swx_table_entry *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->key_mask);
	free(e->action_data);
	free(e);
}

#define MSG(...) do { if (err && errlen > 0) snprintf(err, errlen, __VA_ARGS__); } while (0)

static struct rte_mempool *pool;
static struct rte_ring *cpu_in, *cpu_out, *idle;
static pthread_mutex_t cpu_mu = PTHREAD_MUTEX_INITIALIZER;

struct swx_pl {
	struct rte_swx_pipeline *p;
	struct rte_swx_ctl_pipeline *ctl;
	volatile int stop;
	int running;
	unsigned lcore;
};

int swx_eal_init(int argc, char **argv, char *err, int errlen)
{
	cpu_set_t all;
	int i;

	if (rte_eal_init(argc, argv) < 0) {
		MSG("rte_eal_init: %s", rte_strerror(rte_errno));
		return -rte_errno ? -rte_errno : -EINVAL;
	}
	// EAL pinned the calling thread (a Go runtime thread) to the main
	// lcore; threads it creates would inherit that. Give it every CPU.
	CPU_ZERO(&all);
	for (i = 0; i < CPU_SETSIZE; i++)
		CPU_SET(i, &all);
	sched_setaffinity(0, sizeof(all), &all);

	pool = rte_pktmbuf_pool_create("swx_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (!pool) {
		MSG("mbuf pool: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	cpu_in = rte_ring_create("swx_cpu_in", 1024, rte_socket_id(), RING_F_SC_DEQ);
	cpu_out = rte_ring_create("swx_cpu_out", 4096, rte_socket_id(), RING_F_SP_ENQ);
	idle = rte_ring_create("swx_idle", 64, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!cpu_in || !cpu_out || !idle) {
		MSG("rings: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

int swx_port_add(const char *vdev, const char *args, char *err, int errlen)
{
	struct rte_eth_conf conf;
	uint16_t port_id;
	int st;

	st = rte_vdev_init(vdev, args);
	if (st) {
		MSG("device %s (%s) could not be created: %s", vdev, args, rte_strerror(-st));
		return st < 0 ? st : -EINVAL;
	}
	st = rte_eth_dev_get_port_by_name(vdev, &port_id);
	if (st) {
		MSG("device %s: no ethdev", vdev);
		return -ENODEV;
	}
	memset(&conf, 0, sizeof(conf));
	if ((st = rte_eth_dev_configure(port_id, 1, 1, &conf))) {
		MSG("device %s: configure: %s", vdev, rte_strerror(-st));
		return st;
	}
	// The MTU is left as it is: 1500 on a new net_tap; on an af_packet
	// port, its interface's (setting it would change the interface, which
	// on an uplink carrying the fabric tag must stay above its hosts').
	// af_packet passes frames up to its ring's frame size (framesz=2048:
	// 1,976 bytes) whatever DPDK's MTU says.
	if ((st = rte_eth_rx_queue_setup(port_id, 0, 256, rte_eth_dev_socket_id(port_id), NULL, pool))) {
		MSG("device %s: rx queue: %s", vdev, rte_strerror(-st));
		return st;
	}
	if ((st = rte_eth_tx_queue_setup(port_id, 0, 512, rte_eth_dev_socket_id(port_id), NULL))) {
		MSG("device %s: tx queue: %s", vdev, rte_strerror(-st));
		return st;
	}
	if ((st = rte_eth_dev_start(port_id))) {
		MSG("device %s: start: %s", vdev, rte_strerror(-st));
		return st;
	}
	rte_eth_promiscuous_enable(port_id);
	rte_eth_dev_set_link_up(port_id);
	return port_id;
}

int swx_port_stats(uint16_t port_id, uint64_t *ipackets, uint64_t *opackets, uint64_t *imissed, uint64_t *oerrors)
{
	struct rte_eth_stats s;
	int st = rte_eth_stats_get(port_id, &s);

	if (st)
		return st;
	*ipackets = s.ipackets;
	*opackets = s.opackets;
	*imissed = s.imissed;
	*oerrors = s.oerrors;
	return 0;
}

int swx_codegen(const char *spec, const char *out, char *err, int errlen)
{
	FILE *in, *o;
	uint32_t line = 0;
	const char *msg = NULL;
	int st;

	in = fopen(spec, "r");
	if (!in) {
		MSG("%s: %s", spec, strerror(errno));
		return -errno;
	}
	o = fopen(out, "w");
	if (!o) {
		MSG("%s: %s", out, strerror(errno));
		fclose(in);
		return -errno;
	}
	st = rte_swx_pipeline_codegen(in, o, &line, &msg);
	fclose(in);
	fclose(o);
	if (st)
		MSG("line %u: %s (%s)", line, msg ? msg : "error", strerror(-st));
	return st;
}

struct swx_pl *swx_build(const char *name, const char *lib, const char *iospec, char *err, int errlen)
{
	struct swx_pl *pl;
	FILE *io;
	int st;

	io = fopen(iospec, "r");
	if (!io) {
		MSG("%s: %s", iospec, strerror(errno));
		return NULL;
	}
	pl = calloc(1, sizeof(*pl));
	if (!pl) {
		fclose(io);
		MSG("out of memory");
		return NULL;
	}
	st = rte_swx_pipeline_build_from_lib(&pl->p, name, lib, io, 0);
	fclose(io);
	if (st) {
		MSG("pipeline build: %s", strerror(-st));
		free(pl);
		return NULL;
	}
	pl->ctl = rte_swx_ctl_pipeline_create(pl->p);
	if (!pl->ctl) {
		MSG("pipeline control: create failed (memory?)");
		rte_swx_pipeline_free(pl->p);
		free(pl);
		return NULL;
	}
	return pl;
}

static int worker(void *arg)
{
	struct swx_pl *pl = arg;
	unsigned i = 0;

	while (!pl->stop) {
		rte_swx_pipeline_run(pl->p, 1000);
		if ((++i & 15) == 0)
			rte_swx_pipeline_flush(pl->p);
	}
	rte_swx_pipeline_flush(pl->p);
	return 0;
}

int swx_start(struct swx_pl *pl, unsigned lcore)
{
	int st;

	pl->stop = 0;
	pl->lcore = lcore;
	st = rte_eal_remote_launch(worker, pl, lcore);
	if (st)
		return st;
	pl->running = 1;
	return 0;
}

void swx_stop(struct swx_pl *pl)
{
	if (!pl || !pl->running)
		return;
	pl->stop = 1;
	rte_eal_wait_lcore(pl->lcore);
	pl->running = 0;
}

void swx_free(struct swx_pl *pl)
{
	if (!pl)
		return;
	swx_stop(pl);
	if (pl->ctl)
		rte_swx_ctl_pipeline_free(pl->ctl);
	if (pl->p)
		rte_swx_pipeline_free(pl->p);
	free(pl);
}

int swx_table_stage(struct swx_pl *pl, const char *table, const char *line, int op, char *err, int errlen)
{
	struct rte_swx_table_entry *e;
	int blank = 0, st;

	e = rte_swx_ctl_pipeline_table_entry_read(pl->ctl, table, line, &blank);
	if (!e) {
		MSG("table %s: the pipeline refuses the entry \"%s\"", table, line);
		return -EINVAL;
	}
	switch (op) {
	case 0:
		st = rte_swx_ctl_pipeline_table_entry_add(pl->ctl, table, e);
		break;
	case 1:
		st = rte_swx_ctl_pipeline_table_entry_delete(pl->ctl, table, e);
		break;
	default:
		st = rte_swx_ctl_pipeline_table_default_entry_add(pl->ctl, table, e);
		break;
	}
	table_entry_free(e);
	if (st)
		MSG("table %s: %s", table, strerror(-st));
	return st;
}

int swx_commit(struct swx_pl *pl, char *err, int errlen)
{
	int st = rte_swx_ctl_pipeline_commit(pl->ctl, 1);

	if (st)
		MSG("commit: %s", strerror(-st));
	return st;
}

void swx_abort(struct swx_pl *pl)
{
	rte_swx_ctl_pipeline_abort(pl->ctl);
}

static int table_id(struct swx_pl *pl, const char *name, struct rte_swx_ctl_table_info *ti)
{
	struct rte_swx_ctl_pipeline_info pi;
	uint32_t i;

	if (rte_swx_ctl_pipeline_info_get(pl->p, &pi))
		return -EINVAL;
	for (i = 0; i < pi.n_tables; i++) {
		if (rte_swx_ctl_table_info_get(pl->p, i, ti))
			return -EINVAL;
		if (!strcmp(ti->name, name))
			return i;
	}
	return -ENOENT;
}

int64_t swx_entry_id(struct swx_pl *pl, const char *table, const char *line)
{
	struct rte_swx_ctl_table_info ti;
	struct rte_swx_ctl_table_match_field_info mf;
	struct rte_swx_table_ops ops;
	struct rte_swx_table_state *ts;
	struct rte_swx_table_entry *e;
	uint32_t off = UINT32_MAX, end = 0, i;
	uint8_t *buf, *key, *mailbox = NULL, *data;
	uint64_t action;
	size_t id = 0;
	int tid, stub = 0, blank = 0, hit = 0;
	int64_t ret;

	tid = table_id(pl, table, &ti);
	if (tid < 0)
		return tid;
	for (i = 0; i < ti.n_match_fields; i++) {
		if (rte_swx_ctl_table_match_field_info_get(pl->p, tid, i, &mf))
			return -EINVAL;
		if (mf.offset / 8 < off)
			off = mf.offset / 8;
		if ((mf.offset + mf.n_bits) / 8 > end)
			end = (mf.offset + mf.n_bits) / 8;
	}
	if (rte_swx_ctl_table_ops_get(pl->p, tid, &ops, &stub) || stub || !ops.lkp)
		return -ENOTSUP;
	if (rte_swx_pipeline_table_state_get(pl->p, &ts))
		return -EINVAL;
	e = rte_swx_ctl_pipeline_table_entry_read(pl->ctl, table, line, &blank);
	if (!e)
		return -EINVAL;
	buf = calloc(1, end + 64);
	if (ops.mailbox_size_get)
		mailbox = calloc(1, ops.mailbox_size_get() + 64);
	if (!buf || (ops.mailbox_size_get && !mailbox)) {
		free(buf);
		free(mailbox);
		table_entry_free(e);
		return -ENOMEM;
	}
	// The table reads its key at its key offset from the pointer it is
	// given (the packet's metadata); the entry's key starts there.
	memcpy(buf + off, e->key, end - off);
	key = buf;
	while (!ops.lkp(ts[tid].obj, mailbox, &key, &action, &data, &id, &hit))
		;
	// The entryid instruction gives 1 + the table's id of the entry hit (0 on
	// a miss): the index the counters are kept at.
	ret = hit ? (int64_t)id + 1 : -ENOENT;
	free(buf);
	free(mailbox);
	table_entry_free(e);
	return ret;
}

int swx_reg_read(struct swx_pl *pl, const char *name, uint32_t idx, uint64_t *v)
{
	return rte_swx_ctl_pipeline_regarray_read(pl->p, name, idx, v);
}

int swx_reg_write(struct swx_pl *pl, const char *name, uint32_t idx, uint64_t v)
{
	return rte_swx_ctl_pipeline_regarray_write(pl->p, name, idx, v);
}

int swx_cpu_send(const void *buf, uint32_t len)
{
	struct rte_mbuf *m;
	char *d;
	int st;

	m = rte_pktmbuf_alloc(pool);
	if (!m)
		return -ENOBUFS;
	d = rte_pktmbuf_append(m, len);
	if (!d) {
		rte_pktmbuf_free(m);
		return -EMSGSIZE;
	}
	memcpy(d, buf, len);
	pthread_mutex_lock(&cpu_mu);
	st = rte_ring_sp_enqueue(cpu_in, m);
	pthread_mutex_unlock(&cpu_mu);
	if (st) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	return 0;
}

int swx_cpu_recv(void *buf, uint32_t stride, uint32_t *lens, int n)
{
	struct rte_mbuf *ms[64];
	int got, i;

	if (n > 64)
		n = 64;
	got = rte_ring_sc_dequeue_burst(cpu_out, (void **)ms, n, NULL);
	for (i = 0; i < got; i++) {
		uint32_t len = rte_pktmbuf_pkt_len(ms[i]);

		if (len > stride)
			len = stride;
		// rte_pktmbuf_read returns a pointer into the mbuf when the data is
		// contiguous, without copying: copy then.
		{
			const void *p = rte_pktmbuf_read(ms[i], 0, len, (char *)buf + (size_t)i * stride);
			if (p != (char *)buf + (size_t)i * stride)
				memcpy((char *)buf + (size_t)i * stride, p, len);
		}
		lens[i] = len;
		rte_pktmbuf_free(ms[i]);
	}
	return got;
}

void swx_dump(struct swx_pl *pl)
{
	struct rte_swx_ctl_pipeline_info pi;
	uint32_t i;

	if (!pl || rte_swx_ctl_pipeline_info_get(pl->p, &pi))
		return;
	for (i = 0; i < pi.n_ports_in; i++) {
		struct rte_swx_port_in_stats s;

		rte_swx_ctl_pipeline_port_in_stats_read(pl->p, i, &s);
		if (s.n_pkts)
			fprintf(stderr, "swx: port in %u: %" PRIu64 " packets\n", i, s.n_pkts);
	}
	for (i = 0; i < pi.n_ports_out; i++) {
		struct rte_swx_port_out_stats s;

		rte_swx_ctl_pipeline_port_out_stats_read(pl->p, i, &s);
		if (s.n_pkts)
			fprintf(stderr, "swx: port out %u: %" PRIu64 " packets\n", i, s.n_pkts);
	}
	for (i = 0; i < pi.n_tables; i++) {
		struct rte_swx_ctl_table_info ti;
		struct rte_swx_table_stats s;
		uint64_t actions[64] = {0};

		rte_swx_ctl_table_info_get(pl->p, i, &ti);
		s.n_pkts_action = actions;
		if (rte_swx_ctl_pipeline_table_stats_read(pl->p, ti.name, &s))
			continue;
		if (s.n_pkts_hit || s.n_pkts_miss)
			fprintf(stderr, "swx: table %s: %" PRIu64 " hit, %" PRIu64 " miss\n", ti.name, s.n_pkts_hit, s.n_pkts_miss);
		// P4CTL_SWX_DUMP_TABLES: every entry too.
		if (getenv("P4CTL_SWX_DUMP_TABLES"))
			rte_swx_ctl_pipeline_table_fprintf(stderr, pl->ctl, ti.name);
	}
}
