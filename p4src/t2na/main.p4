// p4ctl isolation + ACL pipeline for Tofino 2 (T2NA), compiled with
// bf-p4c 9.13.4 (`make p4-t2na`, into p4src/build/t2na). The table sizes are
// what one Tofino 2 pipe holds together in its 20 stages: bf-p4c places
// the policy tables in stages 4-15, after the identity, ACL and segment
// checks and before the choice of the best entry and the verdict, and L2
// beside them (docs/targets.md gives the figures). pkg/pipeline's tofino2
// profile carries the same numbers (TestProfileSizesMatchMain).

#include <core.p4>
#include <t2na.p4>

// The PCIe CPU port of Tofino 2.
const PortId_t CPU_PORT = 0;

#define TABLE_SIZE_SRC_IDENTITY_V4 32768
#define TABLE_SIZE_SRC_IDENTITY_V6 8192
#define TABLE_SIZE_DST_IDENTITY_V4 32768
#define TABLE_SIZE_DST_IDENTITY_V6 16384
#define TABLE_SIZE_ACL_V4 2048
#define TABLE_SIZE_ACL_V6 512
#define TABLE_SIZE_DST_PORT_CLASS 1024
#define TABLE_SIZE_SRC_PORT_CLASS 1024
#define TABLE_SIZE_POLICY_PAIR 16384
#define TABLE_SIZE_POLICY_PROTO 32768
#define TABLE_SIZE_POLICY_PORT 131072
#define TABLE_SIZE_POLICY_RANGE 32768
#define TABLE_SIZE_REPLY_PROTO 16384
#define TABLE_SIZE_REPLY_PORT 65536
#define TABLE_SIZE_REPLY_RANGE 65536
#define TABLE_SIZE_L2 131072

#include "../tna/tofino.p4"
