// p4ctl isolation + ACL pipeline for the v1model architecture (BMv2
// simple_switch_grpc). Everything behavioural lives in ../include; this
// file maps it onto v1model's intrinsic metadata and externs.

#include <core.p4>
#include <v1model.p4>

#define PORT_T bit<9>

#define DIRECT_COUNTER(name) direct_counter(CounterType.packets_and_bytes) name
#define TABLE_COUNTERS(name) counters = name
#define PORT_COUNTER(name) counter(512, CounterType.packets_and_bytes) name
#define COUNT_PORT(name, port) name.count((bit<32>)(port))
// BMv2 counts a direct counter on every hit of its table.
#define COUNT_DIRECT(name)

#include "../include/headers.p4"

// The port BMv2 is started with as --cpu-port: packet-out arrives on it and
// packet-in leaves through it.
const PORT_T CPU_PORT = 510;

#include "../include/parser.p4"
#include "../include/ingress.p4"
#include "../include/egress.p4"

parser V1Parser(packet_in pkt, out headers_t hdr, inout local_metadata_t meta,
                inout standard_metadata_t std) {
    IsoParser() iso;
    state start {
        meta.ingress_port = std.ingress_port;
        iso.apply(pkt, hdr, meta);
        transition accept;
    }
}

control V1VerifyChecksum(inout headers_t hdr, inout local_metadata_t meta) {
    apply { }
}

// The flow log: the first packets of flows are reported to the
// controller, denied ones as denial_t digests and allowed ones as flow_t
// digests (the same fields; decided_by says which step allowed it),
// rate-limited here so that a scan cannot flood the CPU path: a flow
// (segment, source, destination, protocol, destination port) is reported
// once per epoch of 2^23 us (8.4 s), as a 4096-slot hash set of the epoch
// each slot last reported in says; and a source at most
// FLOW_REPORT_SOURCE_BUDGET times per epoch, allowed and denied together,
// counted in 1024 slots by source. A flow whose slot another flow took in
// the same epoch is not reported in it (a missed report, never an extra
// one). An allowed packet is reported only where a flow starts: TCP with
// SYN and without ACK, and not an ICMP echo reply (replies of allowed
// flows are allowed by reply entries and are not flows of their own).
#define FLOW_REPORT_FLOW_SLOTS 4096
#define FLOW_REPORT_SOURCE_SLOTS 1024
#define FLOW_REPORT_SOURCE_BUDGET 16

// An allowed flow, as flow_t digests carry it; denial_t's fields, with
// decided_by in place of denied_by (DENIED_BY_* values: the ACL, a policy
// entry or the segment default allowed it).
struct flow_t {
    segment_t segment;
    bit<16> ingress_port;
    identity_t src_identity;
    identity_t dst_identity;
    bit<8> ip_version;
    bit<128> src_addr;
    bit<128> dst_addr;
    bit<8> ip_proto;
    bit<16> l4_src;
    bit<16> l4_dst;
    bit<8> tcp_flags;
    bit<8> decided_by;
    bit<16> rank; // the deciding policy entry's rank; 0 for the ACL and the default
}

control V1FlowReports(in headers_t hdr, in local_metadata_t meta, in standard_metadata_t std) {
    register<bit<32>>(FLOW_REPORT_FLOW_SLOTS) flow_report_epoch;
    register<bit<32>>(FLOW_REPORT_SOURCE_SLOTS) flow_source_epoch;
    register<bit<8>>(FLOW_REPORT_SOURCE_SLOTS) flow_source_count;

    apply {
        if (meta.denied == 0) {
            if (hdr.tcp.isValid() && (meta.tcp_flags & 0x12) != 0x02) {
                return; // not a TCP flow's start
            }
            if (hdr.icmp.isValid() && (hdr.icmp.icmp_type == 0 || hdr.icmp.icmp_type == 129)) {
                return; // an echo reply
            }
        }
        bit<128> src = (bit<128>)meta.src_ip4;
        bit<128> dst = (bit<128>)meta.dst_ip4;
        bit<8> version = 4;
        if (meta.is_ipv6 == 1) {
            src = hdr.ipv6.src_addr;
            dst = hdr.ipv6.dst_addr;
            version = 6;
        }
        // Epoch + 1, so that a slot never written (0) is no epoch.
        bit<32> epoch = (bit<32>)(std.ingress_global_timestamp >> 23) + 1;
        bit<32> flow = 0;
        hash(flow, HashAlgorithm.crc32, 32w0, {meta.segment, src, dst, meta.ip_proto, meta.l4_dst}, (bit<32>)FLOW_REPORT_FLOW_SLOTS);
        bit<32> flow_epoch = 0;
        flow_report_epoch.read(flow_epoch, flow);
        if (flow_epoch == epoch) {
            return; // reported in this epoch
        }
        bit<32> source = 0;
        hash(source, HashAlgorithm.crc32, 32w0, {meta.segment, src}, (bit<32>)FLOW_REPORT_SOURCE_SLOTS);
        bit<32> source_epoch = 0;
        bit<8> count = 0;
        flow_source_epoch.read(source_epoch, source);
        flow_source_count.read(count, source);
        if (source_epoch != epoch) {
            count = 0;
        }
        if (count >= FLOW_REPORT_SOURCE_BUDGET) {
            return; // this source's reports for the epoch are spent
        }
        flow_report_epoch.write(flow, epoch);
        flow_source_epoch.write(source, epoch);
        flow_source_count.write(source, count + 1);
        if (meta.denied == 1) {
            digest<denial_t>(1, {meta.segment, (bit<16>)meta.ingress_port, meta.src_id, meta.dst_id, version, src, dst,
                                 meta.ip_proto, meta.l4_src, meta.l4_dst, meta.tcp_flags, meta.denied_by,
                                 meta.policy_rank});
        } else {
            digest<flow_t>(1, {meta.segment, (bit<16>)meta.ingress_port, meta.src_id, meta.dst_id, version, src, dst,
                               meta.ip_proto, meta.l4_src, meta.l4_dst, meta.tcp_flags, meta.denied_by,
                               meta.policy_rank});
        }
    }
}

control V1Ingress(inout headers_t hdr, inout local_metadata_t meta,
                  inout standard_metadata_t std) {
    IsoIngress() iso;
    V1FlowReports() flows;
    apply {
        iso.apply(hdr, meta);
        if (meta.drop == 1) {
            if (meta.denied == 1) {
                flows.apply(hdr, meta, std);
            }
            mark_to_drop(std);
        } else if (meta.to_cpu == 1) {
            std.egress_spec = CPU_PORT;
        } else if (meta.flood == 1) {
            std.mcast_grp = meta.mcast_group;
        } else {
            std.egress_spec = meta.egress_port;
        }
        // An allowed IP packet (the ACL, a policy or the default decided:
        // decided_by set; not ARP, ND or an uplink's traffic).
        if (meta.drop == 0 && meta.to_cpu == 0 && meta.forward == 1 && meta.denied_by != 0) {
            flows.apply(hdr, meta, std);
        }
    }
}

control V1Egress(inout headers_t hdr, inout local_metadata_t meta,
                 inout standard_metadata_t std) {
    IsoEgress() iso;
    apply {
        meta.egress_port = std.egress_port;
        iso.apply(hdr, meta);
        if (meta.drop == 1) {
            mark_to_drop(std);
        }
    }
}

// The pipeline never rewrites IP headers, so there is no checksum to update.
control V1ComputeChecksum(inout headers_t hdr, inout local_metadata_t meta) {
    apply { }
}

control V1Deparser(packet_out pkt, in headers_t hdr) {
    IsoDeparser() iso;
    apply {
        iso.apply(pkt, hdr);
    }
}

V1Switch(V1Parser(), V1VerifyChecksum(), V1Ingress(), V1Egress(),
         V1ComputeChecksum(), V1Deparser()) main;
