//go:build swx

// The thin C layer between Go and DPDK's SWX pipeline (22.11): EAL and
// ports, a pipeline built from the library the spec was compiled to, its
// data-plane thread, the control API's table and register calls, and the
// CPU port's two rings. Every function returns 0 or a negative errno and
// writes a message into err (errlen bytes) where it can say more.
#ifndef P4CTL_SWX_H
#define P4CTL_SWX_H

#include <stdint.h>
#include <stddef.h>

struct swx_pl;

int swx_eal_init(int argc, char **argv, char *err, int errlen);
int swx_port_add(const char *vdev, const char *args, char *err, int errlen);
int swx_port_stats(uint16_t port_id, uint64_t *ipackets, uint64_t *opackets, uint64_t *imissed, uint64_t *oerrors);
int swx_codegen(const char *spec, const char *out, char *err, int errlen);
struct swx_pl *swx_build(const char *name, const char *lib, const char *iospec, char *err, int errlen);
int swx_start(struct swx_pl *pl, unsigned lcore);
void swx_stop(struct swx_pl *pl);
void swx_free(struct swx_pl *pl);

// op: 0 add or modify, 1 delete, 2 default entry.
int swx_table_stage(struct swx_pl *pl, const char *table, const char *line, int op, char *err, int errlen);
int swx_commit(struct swx_pl *pl, char *err, int errlen);
void swx_abort(struct swx_pl *pl);
// The entry id the data plane's entryid gives the entry line names, or a
// negative errno (-ENOENT: no such entry).
int64_t swx_entry_id(struct swx_pl *pl, const char *table, const char *line);
int swx_reg_read(struct swx_pl *pl, const char *name, uint32_t idx, uint64_t *v);
int swx_reg_write(struct swx_pl *pl, const char *name, uint32_t idx, uint64_t v);

// The CPU port: frames the controller sends into the pipeline (its input
// port reads ring "swx_cpu_in") and frames the pipeline sends to the CPU
// port (ring "swx_cpu_out").
int swx_cpu_send(const void *buf, uint32_t len);
// Prints the pipeline's port and table counters to stderr.
void swx_dump(struct swx_pl *pl);
// Copies up to n frames into buf (each at i*stride, its length in lens).
int swx_cpu_recv(void *buf, uint32_t stride, uint32_t *lens, int n);

#endif
