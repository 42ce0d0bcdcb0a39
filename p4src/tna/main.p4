// p4ctl isolation + ACL pipeline for Tofino 1 (TNA), compiled with
// `bf-p4c --target tofino --arch tna`. The table sizes fit one Tofino 1
// pipe together (docs/targets.md); pkg/pipeline's tofino profile carries
// the same numbers (TestProfileSizesMatchMain).

#include <core.p4>
#include <tna.p4>

// The PCIe CPU port of a 32-port Tofino 1 (pipe 2 on a 4-pipe part).
const PortId_t CPU_PORT = 320;

#define TABLE_SIZE_SRC_IDENTITY_V4 16384
#define TABLE_SIZE_SRC_IDENTITY_V6 16384
#define TABLE_SIZE_DST_IDENTITY_V4 16384
#define TABLE_SIZE_DST_IDENTITY_V6 8192
#define TABLE_SIZE_ACL_V4 4096
#define TABLE_SIZE_ACL_V6 1024
#define TABLE_SIZE_DST_PORT_CLASS 2048
#define TABLE_SIZE_SRC_PORT_CLASS 2048
#define TABLE_SIZE_POLICY_PAIR 16384
#define TABLE_SIZE_POLICY_PROTO 32768
#define TABLE_SIZE_POLICY_PORT 262144
#define TABLE_SIZE_POLICY_RANGE 65536
#define TABLE_SIZE_REPLY_PROTO 16384
#define TABLE_SIZE_REPLY_PORT 131072
#define TABLE_SIZE_REPLY_RANGE 32768
#define TABLE_SIZE_L2 32768

#include "tofino.p4"
