// p4ctl isolation + ACL pipeline for Tofino 1 (TNA), compiled with
// bf-p4c 9.13.4 (`make p4-tna`, into p4src/build/tna). The table sizes are
// what one Tofino 1 pipe holds together in its 12 stages: bf-p4c places
// the policy tables in stages 3-7 (the identity, ACL and segment checks
// come before them, the choice of the best entry and the verdict after),
// and the identities in the SRAM of stage 2 (docs/targets.md gives the
// figures). pkg/pipeline's tofino profile carries the same
// numbers (TestProfileSizesMatchMain).

#include <core.p4>
#include <tna.p4>

// The PCIe CPU port of a 32-port Tofino 1 (pipe 2 on a 4-pipe part).
const PortId_t CPU_PORT = 320;

#define TABLE_SIZE_SRC_IDENTITY_V4 16384
#define TABLE_SIZE_SRC_IDENTITY_V6 4096
#define TABLE_SIZE_DST_IDENTITY_V4 16384
#define TABLE_SIZE_DST_IDENTITY_V6 8192
#define TABLE_SIZE_ACL_V4 1024
#define TABLE_SIZE_ACL_V6 512
#define TABLE_SIZE_DST_PORT_CLASS 512
#define TABLE_SIZE_SRC_PORT_CLASS 512
#define TABLE_SIZE_POLICY_PAIR 2048
#define TABLE_SIZE_POLICY_PROTO 4096
#define TABLE_SIZE_POLICY_PORT 65536
#define TABLE_SIZE_POLICY_RANGE 32768
#define TABLE_SIZE_REPLY_PROTO 8192
#define TABLE_SIZE_REPLY_PORT 32768
#define TABLE_SIZE_REPLY_RANGE 32768
#define TABLE_SIZE_L2 65536

#include "tofino.p4"
