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

control V1Ingress(inout headers_t hdr, inout local_metadata_t meta,
                  inout standard_metadata_t std) {
    IsoIngress() iso;
    apply {
        iso.apply(hdr, meta);
        if (meta.drop == 1) {
            mark_to_drop(std);
        } else if (meta.to_cpu == 1) {
            std.egress_spec = CPU_PORT;
        } else if (meta.flood == 1) {
            std.mcast_grp = meta.mcast_group;
        } else {
            std.egress_spec = meta.egress_port;
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
