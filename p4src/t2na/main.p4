// p4ctl isolation + ACL pipeline for Tofino 2 (T2NA), compiled with
// `bf-p4c --target tofino2 --arch t2na`. The table sizes fit one Tofino 2
// pipe together (docs/targets.md); pkg/pipeline's tofino2 profile carries
// the same numbers (TestProfileSizesMatchMain).

#include <core.p4>
#include <t2na.p4>

// The PCIe CPU port of Tofino 2.
const PortId_t CPU_PORT = 0;

#define TABLE_SIZE_SRC_IDENTITY_V4 32768
#define TABLE_SIZE_SRC_IDENTITY_V6 32768
#define TABLE_SIZE_DST_IDENTITY_V4 32768
#define TABLE_SIZE_DST_IDENTITY_V6 16384
#define TABLE_SIZE_ACL_V4 4096
#define TABLE_SIZE_ACL_V6 1024
#define TABLE_SIZE_DST_PORT_CLASS 2048
#define TABLE_SIZE_SRC_PORT_CLASS 2048
#define TABLE_SIZE_POLICY_PAIR 32768
#define TABLE_SIZE_POLICY_PROTO 65536
#define TABLE_SIZE_POLICY_PORT 393216
#define TABLE_SIZE_POLICY_RANGE 131072
#define TABLE_SIZE_REPLY_PROTO 32768
#define TABLE_SIZE_REPLY_PORT 196608
#define TABLE_SIZE_REPLY_RANGE 65536
#define TABLE_SIZE_L2 65536

#include "../tna/tofino.p4"
