// The p4ctl pipeline on Tofino (TNA and T2NA): maps ../include onto the
// Tofino intrinsic metadata and externs. tna/main.p4 (Tofino 1) and
// t2na/main.p4 (Tofino 2) include <tna.p4> or <t2na.p4>, size the tables
// for their pipe, define CPU_PORT, and then include this file.
//
// Tofino parses the packet again in egress and keeps no metadata across
// the traffic manager, so ingress bridges what the egress checks need
// (ingress port, segment, role, community, whether it came from an uplink,
// packet-out bypass) in a header
// of its own in front of the frame.

#define PORT_T PortId_t

#define DIRECT_COUNTER(name) DirectCounter<bit<64>>(CounterType_t.PACKETS_AND_BYTES) name
#define TABLE_COUNTERS(name) counters = name
#define COUNT_DIRECT(name) name.count()
#define PORT_COUNTER(name) Counter<bit<64>, PortId_t>(512, CounterType_t.PACKETS_AND_BYTES) name
#define COUNT_PORT(name, port) name.count(port)

#include "../include/headers.p4"
#include "../include/parser.p4"
#include "../include/ingress.p4"
#include "../include/egress.p4"

header bridge_h {
    PortId_t ingress_port;
    bit<5> _pad0;
    bit<1> from_uplink;
    bit<1> bypass;
    segment_t segment;
    bit<6> _pad1;
    bit<2> role;
    community_t community;
}

struct tofino_metadata_t {
    bridge_h bridge;
    local_metadata_t iso;
}

parser TofinoIngressParser(packet_in pkt, out headers_t hdr, out tofino_metadata_t meta,
                           out ingress_intrinsic_metadata_t ig_md) {
    IsoParser() iso;
    state start {
        pkt.extract(ig_md);
        pkt.advance(PORT_METADATA_SIZE);
        meta.iso.ingress_port = ig_md.ingress_port;
        iso.apply(pkt, hdr, meta.iso);
        transition accept;
    }
}

control TofinoIngress(inout headers_t hdr, inout tofino_metadata_t meta,
                      in ingress_intrinsic_metadata_t ig_md,
                      in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                      inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                      inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    IsoIngress() iso;
    apply {
        iso.apply(hdr, meta.iso);
        if (meta.iso.drop == 1) {
            ig_dprsr_md.drop_ctl = 1;
        } else if (meta.iso.to_cpu == 1) {
            ig_tm_md.ucast_egress_port = CPU_PORT;
        } else if (meta.iso.flood == 1) {
            ig_tm_md.mcast_grp_a = meta.iso.mcast_group;
        } else {
            ig_tm_md.ucast_egress_port = meta.iso.egress_port;
        }
        meta.bridge.setValid();
        meta.bridge.ingress_port = meta.iso.ingress_port;
        meta.bridge._pad0 = 0;
        meta.bridge.bypass = meta.iso.bypass;
        meta.bridge.from_uplink = meta.iso.from_uplink;
        meta.bridge.segment = meta.iso.segment;
        meta.bridge._pad1 = 0;
        meta.bridge.role = meta.iso.role;
        meta.bridge.community = meta.iso.community;
    }
}

control TofinoIngressDeparser(packet_out pkt, inout headers_t hdr, in tofino_metadata_t meta,
                              in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    IsoDeparser() iso;
    apply {
        pkt.emit(meta.bridge);
        iso.apply(pkt, hdr);
    }
}

parser TofinoEgressParser(packet_in pkt, out headers_t hdr, out tofino_metadata_t meta,
                          out egress_intrinsic_metadata_t eg_md) {
    IsoFrameParser() frame;
    state start {
        pkt.extract(eg_md);
        pkt.extract(meta.bridge);
        meta.iso.ingress_port = meta.bridge.ingress_port;
        meta.iso.bypass = meta.bridge.bypass;
        meta.iso.from_uplink = meta.bridge.from_uplink;
        meta.iso.segment = meta.bridge.segment;
        meta.iso.role = meta.bridge.role;
        meta.iso.community = meta.bridge.community;
        frame.apply(pkt, hdr);
        transition accept;
    }
}

control TofinoEgress(inout headers_t hdr, inout tofino_metadata_t meta,
                     in egress_intrinsic_metadata_t eg_md,
                     in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                     inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                     inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    IsoEgress() iso;
    apply {
        meta.iso.egress_port = eg_md.egress_port;
        iso.apply(hdr, meta.iso);
        if (meta.iso.drop == 1) {
            eg_dprsr_md.drop_ctl = 1;
        }
    }
}

// The pipeline never rewrites IP headers: no checksum to update.
control TofinoEgressDeparser(packet_out pkt, inout headers_t hdr, in tofino_metadata_t meta,
                             in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    IsoDeparser() iso;
    apply {
        iso.apply(pkt, hdr);
    }
}

Pipeline(TofinoIngressParser(), TofinoIngress(), TofinoIngressDeparser(),
         TofinoEgressParser(), TofinoEgress(), TofinoEgressDeparser()) pipe;

Switch(pipe) main;
