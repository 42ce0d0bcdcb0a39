// The p4ctl pipeline on Tofino (TNA and T2NA): maps ../include onto the
// Tofino intrinsic metadata and externs. tna/main.p4 (Tofino 1) and
// t2na/main.p4 (Tofino 2) include <tna.p4> or <t2na.p4>, size the tables
// for their pipe, define CPU_PORT, and then include this file.
//
// Tofino parses the packet again in egress and keeps no metadata across
// the traffic manager, so ingress bridges what the egress checks need
// (ingress port, segment, role, community, whether it came from an uplink,
// packet-out bypass) in a header of its own in front of the frame.

#define PORT_T PortId_t

#define DIRECT_COUNTER(name) DirectCounter<bit<64>>(CounterType_t.PACKETS_AND_BYTES) name
#define TABLE_COUNTERS(name) counters = name
#define COUNT_DIRECT(name) name.count()
#define PORT_COUNTER(name) Counter<bit<64>, PortId_t>(512, CounterType_t.PACKETS_AND_BYTES) name
#define COUNT_PORT(name, port) name.count(port)

// bf-p4c refuses ../include's controls as written (docs/targets.md lists
// each refusal); the hooks below change how they run on Tofino, not what
// they decide.
//
// Egress: an action cannot compare a parameter with a field, so egress.ports'
// action keeps the port's segment and the check follows the lookup.
#define EGRESS_TX(port) egress_port_segment = segment
#define EGRESS_TX_ON_BYPASS 0
#define EGRESS_SEGMENT_CHECK_IN_APPLY
#define ISO_EGRESS_DECLS segment_t egress_port_segment = 0;
#define ISO_EGRESS_PORT_CHECKS \
    if (meta.egress_role != ROLE_UPLINK && egress_port_segment != meta.segment) { \
        meta.drop = 1; \
        return; \
    }

// Ingress: a gateway cannot compare two fields by size, and the shared
// apply block's chain of lookups needs more stages than a pipe has, so the
// ingress runs ingress_apply.p4 instead. Each policy table's actions write a
// candidate of the table's own: the entry's rank, then the table's place in
// the shared block's order of lookups (the first wins a tie, as the shared
// block's strict compare has it), then the verdict. A miss leaves it 0.
// POLICY_ACTION knows its table by the table's direct counter (ctr), so
// the candidate and the table's place are named after the counter.
#define POLICY_ACTION(act, pname, verdict, ctr) \
    @name(pname) \
    action act(bit<16> rank) { \
        ctr##_cand = rank ++ ctr##_order ++ verdict; \
        COUNT_DIRECT(ctr); \
    }
#define ISO_INGRESS_DECLS \
    const bit<3> policy_pair_counter_order = 7; \
    const bit<3> policy_proto_counter_order = 6; \
    const bit<3> policy_port_counter_order = 5; \
    const bit<3> policy_range_counter_order = 4; \
    const bit<3> reply_proto_counter_order = 3; \
    const bit<3> reply_port_counter_order = 2; \
    const bit<3> reply_range_counter_order = 1; \
    bit<21> policy_pair_counter_cand = 0; \
    bit<21> policy_proto_counter_cand = 0; \
    bit<21> policy_port_counter_cand = 0; \
    bit<21> policy_range_counter_cand = 0; \
    bit<21> reply_proto_counter_cand = 0; \
    bit<21> reply_port_counter_cand = 0; \
    bit<21> reply_range_counter_cand = 0;
#define ISO_INGRESS_APPLY "../tna/ingress_apply.p4"
// The destination identities are host routes of every endpoint of the
// segments a device serves: algorithmic LPM keeps them in SRAM (1,024
// partitions of a small TCAM pre-classifier), leaving the TCAM of the
// stages before the policy to the ACLs and port classes.
#define LPM_TABLE_PRAGMAS @alpm(1) @alpm_partitions(1024)

#include "../include/headers.p4"
#include "../include/parser.p4"
#include "../include/ingress.p4"
#include "../include/egress.p4"

// The bridged fields, each where its use in egress wants it in a container
// (padding around them is not written).
header bridge_h {
    @padding bit<7> _pad0;
    PortId_t ingress_port;
    @padding bit<7> _pad1;
    bit<1> from_uplink;
    @padding bit<7> _pad2;
    bit<1> bypass;
    segment_t segment;
    @padding bit<6> _pad3;
    bit<2> role;
    community_t community;
}

// What egress sends the controller in front of the frame: packet_in as the
// deparser emits it. The port sits in the top bits of its 16, and Tofino's
// ALU cannot move a field there and zero the padding in one action, which
// IsoEgress's packet_in writes ask of it: the egress control writes this
// header instead, the port through the hash unit, and the deparser emits
// it in packet_in's place.
header cpu_in_h {
    PortId_t ingress_port;
    bit<7> _pad;
}

struct tofino_metadata_t {
    bridge_h bridge;
    cpu_in_h cpu_in;
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
        meta.bridge.ingress_port = ig_md.ingress_port;
        meta.bridge.bypass = meta.iso.bypass;
        meta.bridge.from_uplink = meta.iso.from_uplink;
        meta.bridge.segment = meta.iso.segment;
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
        meta.iso.ingress_port = meta.bridge.ingress_port;
        meta.iso.bypass = meta.bridge.bypass;
        meta.iso.from_uplink = meta.bridge.from_uplink;
        meta.iso.segment = meta.bridge.segment;
        meta.iso.role = meta.bridge.role;
        meta.iso.community = meta.bridge.community;
        iso.apply(hdr, meta.iso);
        if (meta.iso.drop == 1) {
            eg_dprsr_md.drop_ctl = 1;
        }
        // IsoEgress made packet_in valid for the controller: send it as cpu_in.
        if (hdr.packet_in.isValid()) {
            meta.cpu_in.setValid();
            @in_hash { meta.cpu_in.ingress_port = meta.bridge.ingress_port; }
            meta.cpu_in._pad = 0;
        }
    }
}

// IsoDeparser's headers, cpu_in in packet_in's place. The pipeline never
// rewrites IP headers: no checksum to update.
control TofinoEgressDeparser(packet_out pkt, inout headers_t hdr, in tofino_metadata_t meta,
                             in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply {
        pkt.emit(meta.cpu_in);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.fabric);
        pkt.emit(hdr.arp);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.ipv6);
        pkt.emit(hdr.tcp);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.icmp);
    }
}

Pipeline(TofinoIngressParser(), TofinoIngress(), TofinoIngressDeparser(),
         TofinoEgressParser(), TofinoEgress(), TofinoEgressDeparser()) pipe;

Switch(pipe) main;
