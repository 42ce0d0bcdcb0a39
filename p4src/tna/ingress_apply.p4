// The apply block of IsoIngress on Tofino, included by ../include/ingress.p4
// in place of its own (tofino.p4 defines ISO_INGRESS_APPLY), with the
// declarations it needs.
//
// It decides what the shared block decides, packet for packet: the same
// verdicts from the same tables, the same counters counted. The shared
// block is a chain of lookups, each behind the checks of the one before;
// on Tofino a link of that chain is a stage, and the chain needs 18 stages
// of the 12 a Tofino 1 pipe has (docs/targets.md). Here:
//  - the checks do not return early: they leave meta.drop set, and what
//    follows a check in the shared block runs only while it is clear;
//  - the lookups without side effects (the destination identity, ACL, port
//    classes and L2 have no counters) run as soon as their keys are known,
//    and their results are read only where the shared block looks them up;
//  - the policy tables, whose hits are counted, run under exactly the shared
//    block's conditions, each writing a candidate of its own (POLICY_ACTION
//    in tofino.p4); the best candidate is their maximum;
//  - the shared block's if-chains that only read the headers (normalising
//    the flow fields) or only read results (the verdict) are one const
//    table each.

// What the shared block's branches test, from the headers: set by
// normalize, with the flow fields.
bit<1> is_ip = 0;    // ARP, IPv4 or IPv6
bit<1> is_nd = 0;    // ICMPv6 neighbour discovery (types 133-137)
bit<1> resolves = 0; // address resolution: ARP or neighbour discovery
// The role egress isolates by, for traffic from an uplink: the fabric tag's
// when the frame has one, else the port's (an uplink).
bit<2> sender_role = ROLE_UPLINK;

@hidden
action norm_arp() {
    meta.src_ip4 = hdr.arp.spa;
    meta.dst_ip4 = hdr.arp.tpa;
    is_ip = 1;
    resolves = 1;
}

@hidden
action norm_ipv4() {
    meta.src_ip4 = hdr.ipv4.src_addr;
    meta.dst_ip4 = hdr.ipv4.dst_addr;
    meta.ip_proto = hdr.ipv4.protocol;
    meta.ip_proto2 = hdr.ipv4.protocol;
    is_ip = 1;
}

@hidden
action norm_ipv4_tcp() {
    norm_ipv4();
    meta.l4_src = hdr.tcp.src_port;
    meta.l4_dst = hdr.tcp.dst_port;
    meta.tcp_flags = hdr.tcp.flags;
    meta.tcp_ack = hdr.tcp.flags[4:4];
    meta.tcp_ack2 = hdr.tcp.flags[4:4];
}

@hidden
action norm_ipv4_udp() {
    norm_ipv4();
    meta.l4_src = hdr.udp.src_port;
    meta.l4_dst = hdr.udp.dst_port;
}

@hidden
action norm_ipv6() {
    meta.is_ipv6 = 1;
    meta.ip_proto = hdr.ipv6.next_hdr;
    meta.ip_proto2 = hdr.ipv6.next_hdr;
    is_ip = 1;
}

@hidden
action norm_ipv6_tcp() {
    norm_ipv6();
    meta.l4_src = hdr.tcp.src_port;
    meta.l4_dst = hdr.tcp.dst_port;
    meta.tcp_flags = hdr.tcp.flags;
    meta.tcp_ack = hdr.tcp.flags[4:4];
    meta.tcp_ack2 = hdr.tcp.flags[4:4];
}

@hidden
action norm_ipv6_udp() {
    norm_ipv6();
    meta.l4_src = hdr.udp.src_port;
    meta.l4_dst = hdr.udp.dst_port;
}

@hidden
action norm_ipv6_nd() {
    norm_ipv6();
    is_nd = 1;
    resolves = 1;
}

// The shared block's normalisation in one lookup (its if-chains take a
// table each), over the header stacks the parser produces: ARP alone; IPv4
// or IPv6, then TCP, UDP or ICMP (IPv6 only when the next header is one).
// Neighbour discovery's types 133-137 are 133, 134-135 and 136-137. The
// first entry that matches decides (const entries keep their order).
@hidden
table normalize {
    key = {
        hdr.arp.isValid(): ternary;
        hdr.ipv4.isValid(): ternary;
        hdr.ipv6.isValid(): ternary;
        hdr.tcp.isValid(): ternary;
        hdr.udp.isValid(): ternary;
        hdr.icmp.isValid(): ternary;
        hdr.icmp.icmp_type: ternary;
    }
    actions = {
        norm_arp;
        norm_ipv4;
        norm_ipv4_tcp;
        norm_ipv4_udp;
        norm_ipv6;
        norm_ipv6_tcp;
        norm_ipv6_udp;
        norm_ipv6_nd;
        @defaultonly NoAction;
    }
    const entries = {
        (true, _, _, _, _, _, _): norm_arp();
        (false, true, _, true, _, _, _): norm_ipv4_tcp();
        (false, true, _, false, true, _, _): norm_ipv4_udp();
        (false, true, _, false, false, _, _): norm_ipv4();
        (false, false, true, true, _, _, _): norm_ipv6_tcp();
        (false, false, true, false, true, _, _): norm_ipv6_udp();
        (false, false, true, false, false, true, ICMPV6_ND_FIRST): norm_ipv6_nd();
        (false, false, true, false, false, true, 134 &&& 0xfe): norm_ipv6_nd();
        (false, false, true, false, false, true, 136 &&& 0xfe): norm_ipv6_nd();
        (false, false, true, false, false, _, _): norm_ipv6();
    }
    const default_action = NoAction();
    size = 16;
}

// The policy's candidates and their maximum (POLICY_ACTION in tofino.p4
// writes the candidates).
bit<21> policy_best_1 = 0;
bit<21> policy_best_2 = 0;
bit<21> policy_best_3 = 0;
bit<21> policy_best_4 = 0;
bit<21> policy_best_5 = 0;
bit<21> policy_best = 0;

@hidden
action decide_forward(bit<8> by) {
    meta.forward = 1;
    meta.denied_by = by;
}

@hidden
action decide_punt(bit<8> by) {
    meta.to_cpu = 1;
    meta.denied_by = by;
}

@hidden
action decide_deny(bit<8> by) {
    meta.drop = 1;
    meta.denied = 1;
    meta.denied_by = by;
}

// The verdict of an IP packet past anti-spoofing, in one lookup: the ACL's
// when it has one, else the best policy entry's when a lookup hit (its rank
// is not 0), else the segment's default. The first entry that matches
// decides.
@hidden
table decide {
    key = {
        meta.acl_verdict: ternary;
        policy_best[20:5]: ternary;
        policy_best[1:0]: ternary;
        meta.default_allow: ternary;
    }
    actions = {
        decide_forward;
        decide_punt;
        decide_deny;
    }
    const entries = {
        (VERDICT_ALLOW, _, _, _): decide_forward(DENIED_BY_ACL);
        (VERDICT_PUNT, _, _, _): decide_punt(DENIED_BY_ACL);
        (VERDICT_DENY, _, _, _): decide_deny(DENIED_BY_ACL);
        (VERDICT_NONE, 0, _, 1): decide_forward(DENIED_BY_DEFAULT);
        (VERDICT_NONE, 0, _, 0): decide_deny(DENIED_BY_DEFAULT);
        (VERDICT_NONE, _, VERDICT_ALLOW, _): decide_forward(DENIED_BY_POLICY);
        (VERDICT_NONE, _, VERDICT_PUNT, _): decide_punt(DENIED_BY_POLICY);
        (VERDICT_NONE, _, VERDICT_DENY, _): decide_deny(DENIED_BY_POLICY);
        (VERDICT_NONE, _, VERDICT_NONE, 1): decide_forward(DENIED_BY_DEFAULT);
        (VERDICT_NONE, _, VERDICT_NONE, 0): decide_deny(DENIED_BY_DEFAULT);
    }
    size = 16;
}

apply {
    meta.drop = 0;
    meta.to_cpu = 0;
    meta.flood = 0;
    meta.bypass = 0;
    meta.forward = 0;
    meta.from_uplink = 0;
    meta.denied = 0;
    meta.denied_by = 0;
    meta.src_id = IDENTITY_UNKNOWN;
    meta.dst_id = IDENTITY_UNKNOWN;
    meta.src_id2 = IDENTITY_UNKNOWN;
    meta.dst_id2 = IDENTITY_UNKNOWN;
    meta.acl_verdict = VERDICT_NONE;
    meta.policy_verdict = VERDICT_NONE;
    meta.policy_rank = 0;
    meta.cand_verdict = VERDICT_NONE;
    meta.cand_rank = 0;
    meta.dst_port_class = 0;
    meta.src_port_class = 0;
    meta.tcp_ack = 0;
    meta.tcp_ack2 = 0;
    meta.ip_proto = 0;
    meta.ip_proto2 = 0;
    meta.l4_src = 0;
    meta.l4_dst = 0;
    meta.tcp_flags = 0;
    meta.is_ipv6 = 0;
    meta.src_ip4 = 0;
    meta.dst_ip4 = 0;

    // 1. Packet-out: leave through the named port, no lookups.
    if (hdr.packet_out.isValid()) {
        meta.egress_port = hdr.packet_out.egress_port;
        meta.bypass = 1;
        hdr.packet_out.setInvalid();
        return;
    }
    COUNT_PORT(port_counter, meta.ingress_port);
    // 3. LLDP is link-local: always to the controller.
    if (hdr.ethernet.ether_type == ETHERTYPE_LLDP) {
        meta.to_cpu = 1;
        return;
    }

    // The flow fields, from the headers alone (the shared block normalises
    // them after the port and segment checks; nothing before reads them).
    normalize.apply();

    // 2. Port role and segment.
    ports.apply();
    if (!hdr.fabric.isValid()) {
        segments.apply();
    }

    // 4. Anti-spoofing, on access ports (not on the IPv6 source of
    // neighbour discovery).
    if (meta.role != ROLE_UPLINK && is_ip == 1) {
        if (meta.is_ipv6 == 0) {
            src_identity_v4.apply();
        } else if (is_nd == 0) {
            src_identity_v6.apply();
        }
    }

    // Lookups without side effects, read only on the policy's path below,
    // where the shared block looks them up: the destination identity, the
    // ACL and the port classes. That path is an access port's, without a
    // fabric tag, so its segment is the port's.
    if (meta.is_ipv6 == 1) {
        dst_identity_v6.apply();
        acl_v6.apply();
    } else {
        dst_identity_v4.apply();
        acl_v4.apply();
    }
    bool dst_class_hit = dst_port_class.apply().hit;
    bool src_class_hit = src_port_class.apply().hit;

    // 6. The identity policy, where the shared block looks it up: an IP
    // packet from an access port (a fabric tag there is dropped), past the
    // port's, segment's and anti-spoofing checks, not resolving an address,
    // that the ACL left undecided.
    if (meta.drop == 0 && meta.role != ROLE_UPLINK && !hdr.fabric.isValid() && is_ip == 1
            && resolves == 0 && meta.acl_verdict == VERDICT_NONE) {
        policy_pair.apply();
        policy_proto.apply();
        policy_port.apply();
        if (dst_class_hit) {
            policy_range.apply();
        }
        reply_proto.apply();
        reply_port.apply();
        if (src_class_hit) {
            reply_range.apply();
        }
    }
    // The best candidate: the highest rank, then the first table in the
    // shared block's order. Candidates of tables not looked up are 0.
    policy_best_1 = max(policy_pair_counter_cand, policy_proto_counter_cand);
    policy_best_2 = max(policy_port_counter_cand, policy_range_counter_cand);
    policy_best_3 = max(reply_proto_counter_cand, reply_port_counter_cand);
    policy_best_4 = max(policy_best_1, policy_best_2);
    policy_best_5 = max(policy_best_3, reply_range_counter_cand);
    policy_best = max(policy_best_4, policy_best_5);
    if (policy_best[20:5] != 0) {
        meta.policy_rank = policy_best[20:5];
        meta.policy_verdict = policy_best[1:0];
    }

    // 2a. A fabric tag comes only from another p4ctl switch, over an uplink;
    // the frame keeps the segment, role and community of the port it
    // entered the fabric on, and the segment's flood group has the
    // segment's id on every switch.
    bit<1> bad_tag = 0;
    if (hdr.fabric.isValid()) {
        if (meta.role != ROLE_UPLINK || hdr.fabric.version != FABRIC_VERSION
                || hdr.fabric.ether_type == ETHERTYPE_FABRIC) {
            bad_tag = 1;
        } else {
            meta.segment = hdr.fabric.segment;
            meta.community = hdr.fabric.community;
            meta.mcast_group = hdr.fabric.segment;
            sender_role = hdr.fabric.role;
            hdr.ethernet.ether_type = hdr.fabric.ether_type;
            hdr.fabric.setInvalid();
        }
    }

    // 8. L2, keyed on the segment a fabric tag may have given; read only
    // when the packet is forwarded, the case the shared block looks it up in.
    l2.apply();

    // The verdict, as the shared block reaches it.
    if (meta.drop == 1 || bad_tag == 1) {
        // The port's, the tag's, the segment's or anti-spoofing's check
        // failed: dropped, not a denial.
        meta.drop = 1;
    } else if (meta.role == ROLE_UPLINK) {
        // Traffic from another switch was checked at its first hop; egress
        // isolates it by the role it was sent from.
        meta.role = sender_role;
        meta.from_uplink = 1;
        meta.forward = 1;
    } else if (is_ip == 0) {
        // Any other ethertype on an access port is dropped.
        meta.drop = 1;
    } else if (resolves == 1) {
        // 3. Address resolution: to the controller, or flooded.
        if (meta.punt_arp == 1) {
            meta.to_cpu = 1;
        } else {
            meta.forward = 1;
        }
    } else {
        decide.apply();
    }
}
