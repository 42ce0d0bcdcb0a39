// p4ctl isolation + ACL pipeline for the Portable NIC Architecture, as
// the P4 DPDK target implements it (p4c-dpdk --arch pna; IPDK infrap4d).
// Everything behavioural lives in ../include; this file maps it onto
// PNA's metadata and externs.
//
// PNA has one main control and no egress pipeline or packet replication:
// the egress checks (IsoEgress) run in the main control once ingress has
// chosen a port, and a packet ingress would flood is dropped. The
// controller writes no flood groups for this target and relies on its L2
// entries, one per registered endpoint (pipeline.Limits.NoMulticast).

#include <core.p4>
#include <dpdk/pna.p4>

// Ports are PortId_t values carried as plain 32-bit numbers, so that the
// P4Info's port fields are untranslated like the other targets'.
#define PORT_T bit<32>
#define PORT_PAD_BITS 8

// The DPDK target counts bytes from a length the program gives:
// meta.frame_len, the Ethernet frame as its IP header states it.
#define DIRECT_COUNTER(name) DirectCounter<bit<64>>(PNA_CounterType_t.PACKETS_AND_BYTES) name
#define TABLE_COUNTERS(name) pna_direct_counter = name
#define COUNT_DIRECT(name) name.count(meta.frame_len)
#define PORT_COUNTER(name) Counter<bit<64>, bit<32>>(512, PNA_CounterType_t.PACKETS_AND_BYTES) name
#define COUNT_PORT(name, port) name.count(port, meta.frame_len)
// send_to_port takes an action parameter or a constant: unicast leaves
// from egress.ports' action, which carries the port (egress.p4).
#define EGRESS_TX(port) send_to_port((PortId_t) port)
#define EGRESS_TX_ON_BYPASS 1

#include "../include/headers.p4"

// The vport infrap4d is given as the control port: packet-out arrives on
// it and packet-in leaves through it.
const PORT_T CPU_PORT = 255;

// packet_in._pad of a denied frame sent to the controller: this bit and
// the reason (DENIED_BY_*) below it.
const bit<8> DENIAL_REPORT = 0x80;

#include "../include/parser.p4"
#include "../include/ingress.p4"
#include "../include/egress.p4"

parser PnaParser(packet_in pkt, out headers_t hdr, inout local_metadata_t meta,
                 in pna_main_parser_input_metadata_t istd) {
    IsoParser() iso;
    state start {
        meta.ingress_port = (bit<32>) istd.input_port;
        iso.apply(pkt, hdr, meta);
        transition accept;
    }
}

control PnaPre(in headers_t hdr, inout local_metadata_t meta,
               in pna_pre_input_metadata_t istd, inout pna_pre_output_metadata_t ostd) {
    apply { }
}

control PnaMain(inout headers_t hdr, inout local_metadata_t meta,
                in pna_main_input_metadata_t istd, inout pna_main_output_metadata_t ostd) {
    IsoIngress() ingress_ctl;
    IsoEgress() egress_ctl;
    apply {
        if (hdr.ipv4.isValid()) {
            meta.frame_len = (bit<32>) hdr.ipv4.total_len + 14;
        } else if (hdr.ipv6.isValid()) {
            meta.frame_len = (bit<32>) hdr.ipv6.payload_len + 54;
        } else {
            meta.frame_len = 64;
        }
        ingress_ctl.apply(hdr, meta);
        // A denial goes to the controller: PNA on DPDK has no digest
        // (p4c-dpdk does not implement Digest.pack), so the denied frame
        // itself leaves through the CPU port, marked in packet_in's
        // padding with DENIAL_REPORT and the reason (DENIED_BY_*). It was
        // going to be dropped anyway. The rate limit the v1model main
        // keeps in registers needs a clock the SWX pipeline of DPDK 22.11
        // does not give the program: the P4Runtime server (cmd/p4ctl-swx)
        // applies it.
        bit<8> report = 0;
        if (meta.drop == 1 && meta.denied == 1) {
            report = DENIAL_REPORT | meta.denied_by;
            meta.drop = 0;
            meta.to_cpu = 1;
        }
        if (meta.drop == 1 || (meta.flood == 1 && meta.to_cpu == 0)) {
            drop_packet();
        } else {
            if (meta.to_cpu == 1) {
                meta.egress_port = CPU_PORT;
            }
            egress_ctl.apply(hdr, meta);
            if (meta.drop == 1) {
                drop_packet();
            } else if (meta.egress_port == CPU_PORT) {
                hdr.packet_in._pad = report;
                send_to_port((PortId_t) CPU_PORT);
            }
            // Otherwise egress.ports' action has sent it.
        }
    }
}

control PnaDeparser(packet_out pkt, in headers_t hdr, in local_metadata_t meta,
                    in pna_main_output_metadata_t ostd) {
    IsoDeparser() iso;
    apply {
        iso.apply(pkt, hdr);
    }
}

PNA_NIC(PnaParser(), PnaPre(), PnaMain(), PnaDeparser()) main;
