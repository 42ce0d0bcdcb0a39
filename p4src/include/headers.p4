// Header, metadata and constant definitions shared by every architecture.
//
// Nothing in this file depends on an architecture: the per-architecture main
// (v1model, tna, t2na, pna) defines PORT_T, the type of a port number on
// its target, before including it, and PORT_PAD_BITS where PORT_T plus 7
// bits is not a whole number of bytes.

#ifndef P4CTL_HEADERS_P4
#define P4CTL_HEADERS_P4

#ifndef PORT_PAD_BITS
#define PORT_PAD_BITS 7
#endif

typedef bit<48> mac_t;
typedef bit<32> ipv4_t;
typedef bit<128> ipv6_t;
typedef bit<16> segment_t;   // segment (isolation domain) id
typedef bit<16> community_t; // PVLAN community id within a segment
typedef bit<16> identity_t;  // policy identity (endpoints with equal labels)
typedef bit<16> group_t;     // multicast group used to flood a segment

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_ARP  = 0x0806;
const bit<16> ETHERTYPE_IPV6 = 0x86dd;
const bit<16> ETHERTYPE_LLDP = 0x88cc;
// The fabric tag between p4ctl switches (IEEE 802 local experimental
// ethertype 1).
const bit<16> ETHERTYPE_FABRIC = 0x88b5;

const bit<8> PROTO_ICMP   = 1;
const bit<8> PROTO_TCP    = 6;
const bit<8> PROTO_UDP    = 17;
const bit<8> PROTO_ICMPV6 = 58;

// ICMPv6 neighbour discovery: router solicitation .. redirect.
const bit<8> ICMPV6_ND_FIRST = 133;
const bit<8> ICMPV6_ND_LAST  = 137;

// Port roles, as written in ports/set_port and egress ports/set_egress_port.
const bit<2> ROLE_ISOLATED    = 0;
const bit<2> ROLE_COMMUNITY   = 1;
const bit<2> ROLE_PROMISCUOUS = 2;
const bit<2> ROLE_UPLINK      = 3;

// Identity 0 means "no registered endpoint" (for example a destination
// outside every registered prefix). Policies can match it explicitly.
const identity_t IDENTITY_UNKNOWN = 0;

// Sent by the controller on the CPU port: the packet leaves egress_port
// without any lookup.
@controller_header("packet_out")
header packet_out_h {
    PORT_T egress_port;
    bit<PORT_PAD_BITS> _pad;
}

// Prepended to every packet sent to the controller.
@controller_header("packet_in")
header packet_in_h {
    PORT_T ingress_port;
    bit<PORT_PAD_BITS> _pad;
}

header ethernet_h {
    mac_t dst_addr;
    mac_t src_addr;
    bit<16> ether_type;
}

// Carried on an uplink between two p4ctl switches, right after the
// Ethernet header: the segment and the PVLAN role and community of the
// port the frame first entered the fabric on, so that the last switch
// applies the sender's isolation, not the uplink's (docs/pipeline.md).
header fabric_h {
    bit<8> version;    // FABRIC_VERSION
    bit<6> _pad;
    bit<2> role;
    segment_t segment;
    community_t community;
    bit<16> ether_type; // of the frame inside
}

const bit<8> FABRIC_VERSION = 1;

header arp_h {
    bit<16> htype;
    bit<16> ptype;
    bit<8> hlen;
    bit<8> plen;
    bit<16> oper;
    mac_t sha;
    ipv4_t spa;
    mac_t tha;
    ipv4_t tpa;
}

header ipv4_h {
    bit<4> version;
    bit<4> ihl;
    bit<8> dscp_ecn;
    bit<16> total_len;
    bit<16> identification;
    bit<3> flags;
    bit<13> frag_offset;
    bit<8> ttl;
    bit<8> protocol;
    bit<16> hdr_checksum;
    ipv4_t src_addr;
    ipv4_t dst_addr;
}

header ipv6_h {
    bit<4> version;
    bit<8> traffic_class;
    bit<20> flow_label;
    bit<16> payload_len;
    bit<8> next_hdr;
    bit<8> hop_limit;
    ipv6_t src_addr;
    ipv6_t dst_addr;
}

header tcp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<32> seq_no;
    bit<32> ack_no;
    bit<4> data_offset;
    bit<4> res;
    bit<8> flags; // CWR ECE URG ACK PSH RST SYN FIN
    bit<16> window;
    bit<16> checksum;
    bit<16> urgent_ptr;
}

header udp_h {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

// ICMP and ICMPv6 share the first four bytes.
header icmp_h {
    bit<8> icmp_type;
    bit<8> icmp_code;
    bit<16> checksum;
}

struct headers_t {
    packet_out_h packet_out;
    packet_in_h packet_in;
    ethernet_h ethernet;
    fabric_h fabric;
    arp_h arp;
    ipv4_h ipv4;
    ipv6_h ipv6;
    tcp_h tcp;
    udp_h udp;
    icmp_h icmp;
}

// What decided a deny (denial_t.denied_by).
const bit<8> DENIED_BY_ACL     = 1;
const bit<8> DENIED_BY_POLICY  = 2;
const bit<8> DENIED_BY_DEFAULT = 3;

// A denied packet, as a main that reports denials sends it to the
// controller (a digest): enough to find the flow, its endpoints and the
// entry that decided, and to trace it again. Addresses are IPv4 in the
// low 32 bits when ip_version is 4.
struct denial_t {
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
    bit<8> denied_by;
    bit<16> rank; // the deciding policy entry's rank; 0 for the ACL and the default
}

// Verdicts of the ACL and policy stages.
const bit<2> VERDICT_NONE  = 0; // no entry matched
const bit<2> VERDICT_ALLOW = 1;
const bit<2> VERDICT_DENY  = 2;
const bit<2> VERDICT_PUNT  = 3;

struct local_metadata_t {
    // Set by the architecture main before the ingress control runs.
    PORT_T ingress_port;
    // Results of ingress, read by the architecture main afterwards.
    PORT_T egress_port;   // unicast destination when flood == 0
    bit<1> flood;         // replicate to mcast_group
    group_t mcast_group;
    bit<1> drop;
    bit<1> to_cpu;        // send to the controller with packet_in
    bit<1> bypass;        // packet-out: no policy, no egress checks
    bit<1> forward;       // ingress decided to forward at L2
    bit<1> from_uplink;   // it came in on an uplink (split horizon)
    bit<1> denied;        // dropped by a deny verdict: a main may report it
    bit<8> denied_by;     // DENIED_BY_*

    // Port and segment state.
    segment_t segment;
    bit<2> role;
    community_t community;
    bit<1> punt_arp;
    bit<1> default_allow;

    // Flow fields, normalised over IPv4/IPv6/ARP.
    bit<1> is_ipv6;
    ipv4_t src_ip4;
    ipv4_t dst_ip4;
    bit<8> tcp_flags;

    // The policy tables' keys lie in two runs of adjacent fields, so that
    // every policy table's key is one contiguous run: the P4 DPDK target
    // makes a table exact match (the only kind with direct counters) only
    // then. Run 1: l4_dst | src_id dst_id ip_proto | tcp_ack l4_src
    // serves policy_pair, _proto, _port and reply_proto, _port; run 2,
    // copies written where the originals are (not copied from them, which
    // the compiler would fold back), serves policy_range and reply_range.
    bit<16> l4_dst;
    identity_t src_id;
    identity_t dst_id;
    bit<8> ip_proto;
    bit<1> tcp_ack;        // TCP with ACK set (replies)
    bit<16> l4_src;

    bit<16> dst_port_class; // atom of the L4 destination port's ranges
    identity_t src_id2;
    identity_t dst_id2;
    bit<8> ip_proto2;
    bit<1> tcp_ack2;
    bit<16> src_port_class; // atom of the L4 source port's ranges

    bit<2> acl_verdict;
    bit<2> policy_verdict;
    bit<16> policy_rank;   // rank of the policy entry that decided so far
    bit<2> cand_verdict;   // the last policy lookup's entry
    bit<16> cand_rank;     // 0: that lookup missed

    // Egress port state.
    bit<2> egress_role;
    community_t egress_community;
    bit<1> egress_tagged;  // the egress port is a fabric link: push the tag

    // Frame length for byte counters, set by a main whose counters take
    // the length from the program (PNA); unused elsewhere.
    bit<32> frame_len;
}

#endif
