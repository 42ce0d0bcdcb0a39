// Architecture-neutral ingress: port roles, punts, anti-spoofing, identities,
// ACL, identity policy and L2 forwarding (design section 3, steps 1-8).
// The architecture main defines PORT_T, CPU_PORT and these externs:
//   DIRECT_COUNTER(name)        declare a packets+bytes direct counter
//   TABLE_COUNTERS(name)        the table property that attaches it
//   PORT_COUNTER(name)          declare a packets+bytes counter indexed by port
//   COUNT_PORT(name, port)      count one packet on it
//   COUNT_DIRECT(name)          count a hit on a direct counter, in the hit
//                               entry's action (empty where the architecture
//                               counts hits by itself)
// and maps the results in local_metadata_t (drop, to_cpu, flood, mcast_group,
// egress_port) onto its own intrinsic metadata. Names are global (leading
// dot) and table ids pinned (@id: p4c's hash of the name, which bf-p4c takes
// of "pipe.<name>"), so every architecture's P4Info is the same. Table sizes
// are TABLE_SIZE_<TABLE>, which a main may define; its profile repeats them.

#ifndef P4CTL_INGRESS_P4
#define P4CTL_INGRESS_P4

// Shared defaults, for a software target; hardware mains size every table.
#define TABLE_SIZE_IDENTITY 131072
#define TABLE_SIZE_ACL 8192
#define TABLE_SIZE_PORT_CLASS 4096
#ifndef TABLE_SIZE_PORTS
#define TABLE_SIZE_PORTS 1024
#endif
#ifndef TABLE_SIZE_SEGMENTS
#define TABLE_SIZE_SEGMENTS 4096
#endif
#ifndef TABLE_SIZE_SRC_IDENTITY_V4
#define TABLE_SIZE_SRC_IDENTITY_V4 TABLE_SIZE_IDENTITY
#endif
#ifndef TABLE_SIZE_SRC_IDENTITY_V6
#define TABLE_SIZE_SRC_IDENTITY_V6 TABLE_SIZE_IDENTITY
#endif
#ifndef TABLE_SIZE_DST_IDENTITY_V4
#define TABLE_SIZE_DST_IDENTITY_V4 TABLE_SIZE_IDENTITY
#endif
#ifndef TABLE_SIZE_DST_IDENTITY_V6
#define TABLE_SIZE_DST_IDENTITY_V6 TABLE_SIZE_IDENTITY
#endif
#ifndef TABLE_SIZE_ACL_V4
#define TABLE_SIZE_ACL_V4 TABLE_SIZE_ACL
#endif
#ifndef TABLE_SIZE_ACL_V6
#define TABLE_SIZE_ACL_V6 TABLE_SIZE_ACL
#endif
#ifndef TABLE_SIZE_DST_PORT_CLASS
#define TABLE_SIZE_DST_PORT_CLASS TABLE_SIZE_PORT_CLASS
#endif
#ifndef TABLE_SIZE_SRC_PORT_CLASS
#define TABLE_SIZE_SRC_PORT_CLASS TABLE_SIZE_PORT_CLASS
#endif
#ifndef TABLE_SIZE_POLICY_PAIR
#define TABLE_SIZE_POLICY_PAIR 131072
#endif
#ifndef TABLE_SIZE_POLICY_PROTO
#define TABLE_SIZE_POLICY_PROTO 262144
#endif
#ifndef TABLE_SIZE_POLICY_PORT
#define TABLE_SIZE_POLICY_PORT 1048576
#endif
#ifndef TABLE_SIZE_POLICY_RANGE
#define TABLE_SIZE_POLICY_RANGE 524288
#endif
#ifndef TABLE_SIZE_REPLY_PROTO
#define TABLE_SIZE_REPLY_PROTO TABLE_SIZE_POLICY_PROTO
#endif
#ifndef TABLE_SIZE_REPLY_PORT
#define TABLE_SIZE_REPLY_PORT TABLE_SIZE_POLICY_PORT
#endif
#ifndef TABLE_SIZE_REPLY_RANGE
#define TABLE_SIZE_REPLY_RANGE TABLE_SIZE_POLICY_RANGE
#endif
#ifndef TABLE_SIZE_L2
#define TABLE_SIZE_L2 131072
#endif
// One policy lookup: keep the entry's verdict when its rank beats the best so
// far (a miss leaves cand_rank at 0, below every rank the compiler writes).
#define POLICY_LOOKUP(apply_call) \
    meta.cand_rank = 0; \
    apply_call; \
    if (meta.cand_rank > meta.policy_rank) { \
        meta.policy_rank = meta.cand_rank; \
        meta.policy_verdict = meta.cand_verdict; \
    }
// A main whose target cannot run this control as written (Tofino) defines
// ISO_INGRESS_DECLS, POLICY_ACTION and ISO_INGRESS_APPLY (a file holding the
// apply block), and LPM_TABLE_PRAGMAS (the identity LPM tables' annotations).
#ifndef ISO_INGRESS_DECLS
#define ISO_INGRESS_DECLS
#endif
#ifndef LPM_TABLE_PRAGMAS
#define LPM_TABLE_PRAGMAS
#endif
control IsoIngress(inout headers_t hdr, inout local_metadata_t meta) {
    ISO_INGRESS_DECLS
    @name(".ingress.port_counter") PORT_COUNTER(port_counter);
    @name(".ingress.policy_pair_counter") DIRECT_COUNTER(policy_pair_counter);
    @name(".ingress.policy_proto_counter") DIRECT_COUNTER(policy_proto_counter);
    @name(".ingress.policy_port_counter") DIRECT_COUNTER(policy_port_counter);
    @name(".ingress.policy_range_counter") DIRECT_COUNTER(policy_range_counter);
    @name(".ingress.reply_proto_counter") DIRECT_COUNTER(reply_proto_counter);
    @name(".ingress.reply_port_counter") DIRECT_COUNTER(reply_port_counter);
    @name(".ingress.reply_range_counter") DIRECT_COUNTER(reply_range_counter);

    @name(".drop")
    action drop() {
        meta.drop = 1;
    }

    // ---- 2. ports: ingress port -> segment, role, community -----------------

    @name(".set_port")
    action set_port(segment_t segment, bit<2> role, community_t community, bit<1> punt_arp) {
        meta.segment = segment;
        meta.role = role;
        meta.community = community;
        meta.punt_arp = punt_arp;
    }

    // A port without an entry drops everything it receives (zero trust).
    @name(".ingress.ports") @id(47541098)
    table ports {
        key = {
            meta.ingress_port: exact @name("ingress_port");
        }
        actions = {
            set_port;
            @defaultonly drop;
        }
        const default_action = drop();
        size = TABLE_SIZE_PORTS;
    }

    // ---- segment defaults and flood group -----------------------------------

    @name(".set_segment")
    action set_segment(bit<1> default_allow, group_t flood_group) {
        meta.default_allow = default_allow;
        meta.mcast_group = flood_group;
    }

    // A port whose segment has no entry drops everything it receives.
    @name(".ingress.segments") @id(40241005)
    table segments {
        key = {
            meta.segment: exact @name("segment");
        }
        actions = {
            set_segment;
            @defaultonly drop;
        }
        const default_action = drop();
        size = TABLE_SIZE_SEGMENTS;
    }

    // ---- 4. source identity and anti-spoofing -------------------------------

    @name(".set_src_identity")
    action set_src_identity(identity_t identity) {
        meta.src_id = identity;
        meta.src_id2 = identity;
    }

    // (port, MAC, IPv4) must belong to a registered endpoint. ARP is checked
    // on its sender protocol address.
    @name(".ingress.src_identity_v4") @id(33753189)
    table src_identity_v4 {
        key = {
            meta.ingress_port: exact @name("ingress_port");
            hdr.ethernet.src_addr: exact @name("src_mac");
            meta.src_ip4: exact @name("src_ip");
        }
        actions = {
            set_src_identity;
            @defaultonly drop;
        }
        const default_action = drop();
        size = TABLE_SIZE_SRC_IDENTITY_V4;
    }

    @name(".ingress.src_identity_v6") @id(41865564)
    table src_identity_v6 {
        key = {
            meta.ingress_port: exact @name("ingress_port");
            hdr.ethernet.src_addr: exact @name("src_mac");
            hdr.ipv6.src_addr: exact @name("src_ip");
        }
        actions = {
            set_src_identity;
            @defaultonly drop;
        }
        const default_action = drop();
        size = TABLE_SIZE_SRC_IDENTITY_V6;
    }

    // ---- 5. destination identity --------------------------------------------

    @name(".set_dst_identity")
    action set_dst_identity(identity_t identity) {
        meta.dst_id = identity;
        meta.dst_id2 = identity;
    }

    // A miss leaves dst_id = IDENTITY_UNKNOWN.
    @name(".ingress.dst_identity_v4") @id(44040474) LPM_TABLE_PRAGMAS
    table dst_identity_v4 {
        key = {
            meta.segment: exact @name("segment");
            meta.dst_ip4: lpm @name("dst_ip");
        }
        actions = {
            set_dst_identity;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = TABLE_SIZE_DST_IDENTITY_V4;
    }

    @name(".ingress.dst_identity_v6") @id(49107842) LPM_TABLE_PRAGMAS
    table dst_identity_v6 {
        key = {
            meta.segment: exact @name("segment");
            hdr.ipv6.dst_addr: lpm @name("dst_ip");
        }
        actions = {
            set_dst_identity;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = TABLE_SIZE_DST_IDENTITY_V6;
    }

    // ---- 7. infrastructure ACL, before the policy ---------------------------

    @name(".acl_allow")
    action acl_allow() {
        meta.acl_verdict = VERDICT_ALLOW;
    }

    @name(".acl_deny")
    action acl_deny() {
        meta.acl_verdict = VERDICT_DENY;
    }

    @name(".acl_punt")
    action acl_punt() {
        meta.acl_verdict = VERDICT_PUNT;
    }

    @name(".ingress.acl_v4") @id(38750885)
    table acl_v4 {
        key = {
            meta.segment: ternary @name("segment");
            meta.src_ip4: ternary @name("src_ip");
            meta.dst_ip4: ternary @name("dst_ip");
            meta.ip_proto: ternary @name("ip_proto");
            meta.l4_src: ternary @name("l4_src_port");
            meta.l4_dst: ternary @name("l4_dst_port");
        }
        actions = {
            acl_allow;
            acl_deny;
            acl_punt;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = TABLE_SIZE_ACL_V4;
    }

    @name(".ingress.acl_v6") @id(34997294)
    table acl_v6 {
        key = {
            meta.segment: ternary @name("segment");
            hdr.ipv6.src_addr: ternary @name("src_ip");
            hdr.ipv6.dst_addr: ternary @name("dst_ip");
            meta.ip_proto: ternary @name("ip_proto");
            meta.l4_src: ternary @name("l4_src_port");
            meta.l4_dst: ternary @name("l4_dst_port");
        }
        actions = {
            acl_allow;
            acl_deny;
            acl_punt;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = TABLE_SIZE_ACL_V6;
    }

    // ---- 6. identity-pair policy --------------------------------------------
    // Every identity-pair rule is an exact-match entry (SRAM on Tofino, a
    // hash table on DPDK, a hash map on BMv2). A rule lands in the table
    // its port condition calls for: any protocol, a protocol, a single
    // port, or a port range through the class of the range's atom. The
    // reply direction of allow rules (stateless, like a security group)
    // has tables of its own, keyed on the source port and on whether TCP
    // has ACK set. Each table is looked up independently and the entry
    // with the highest rank decides: a rank is the rule's P4Runtime-style
    // priority (docs/policy.md), so the verdict is the one a single
    // ternary table with those priorities would give (docs/pipeline.md).
    // Each policy table has actions of its own, because an architecture
    // that counts hits in the action (TNA, PNA) ties an action calling a
    // direct counter to that counter's table.
#ifndef POLICY_ACTION
#define POLICY_ACTION(act, pname, verdict, ctr) \
    @name(pname) \
    action act(bit<16> rank) { \
        meta.cand_verdict = verdict; \
        meta.cand_rank = rank; \
        COUNT_DIRECT(ctr); \
    }
#endif
    POLICY_ACTION(policy_pair_allow, ".policy_pair_allow", VERDICT_ALLOW, policy_pair_counter)
    POLICY_ACTION(policy_pair_deny, ".policy_pair_deny", VERDICT_DENY, policy_pair_counter)
    POLICY_ACTION(policy_pair_punt, ".policy_pair_punt", VERDICT_PUNT, policy_pair_counter)
    POLICY_ACTION(policy_proto_allow, ".policy_proto_allow", VERDICT_ALLOW, policy_proto_counter)
    POLICY_ACTION(policy_proto_deny, ".policy_proto_deny", VERDICT_DENY, policy_proto_counter)
    POLICY_ACTION(policy_proto_punt, ".policy_proto_punt", VERDICT_PUNT, policy_proto_counter)
    POLICY_ACTION(policy_port_allow, ".policy_port_allow", VERDICT_ALLOW, policy_port_counter)
    POLICY_ACTION(policy_port_deny, ".policy_port_deny", VERDICT_DENY, policy_port_counter)
    POLICY_ACTION(policy_port_punt, ".policy_port_punt", VERDICT_PUNT, policy_port_counter)
    POLICY_ACTION(policy_range_allow, ".policy_range_allow", VERDICT_ALLOW, policy_range_counter)
    POLICY_ACTION(policy_range_deny, ".policy_range_deny", VERDICT_DENY, policy_range_counter)
    POLICY_ACTION(policy_range_punt, ".policy_range_punt", VERDICT_PUNT, policy_range_counter)
    POLICY_ACTION(reply_proto_allow, ".reply_proto_allow", VERDICT_ALLOW, reply_proto_counter)
    POLICY_ACTION(reply_port_allow, ".reply_port_allow", VERDICT_ALLOW, reply_port_counter)
    POLICY_ACTION(reply_range_allow, ".reply_range_allow", VERDICT_ALLOW, reply_range_counter)

    @name(".set_dst_port_class")
    action set_dst_port_class(bit<16> port_class) {
        meta.dst_port_class = port_class;
    }

    @name(".set_src_port_class")
    action set_src_port_class(bit<16> port_class) {
        meta.src_port_class = port_class;
    }

    // L4 port classes. Single ports are matched exactly by the policy and
    // reply port tables; only port ranges come through these tables, one
    // entry per atom (a maximal run of ports that every range named by the
    // segment's rules either holds whole or not at all), so TCAM grows
    // with the number of distinct ranges, not ports.
    @name(".ingress.dst_port_class") @id(41672317)
    table dst_port_class {
        key = {
            meta.segment: exact @name("segment");
            meta.ip_proto: exact @name("ip_proto");
            meta.l4_dst: range @name("l4_dst_port");
        }
        actions = {
            set_dst_port_class;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = TABLE_SIZE_DST_PORT_CLASS;
    }

    @name(".ingress.src_port_class") @id(49159371)
    table src_port_class {
        key = {
            meta.segment: exact @name("segment");
            meta.ip_proto: exact @name("ip_proto");
            meta.l4_src: range @name("l4_src_port");
        }
        actions = {
            set_src_port_class;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        size = TABLE_SIZE_SRC_PORT_CLASS;
    }

    // Rules of any protocol.
    @name(".ingress.policy_pair") @id(40740825)
    table policy_pair {
        key = {
            meta.src_id: exact @name("src_identity");
            meta.dst_id: exact @name("dst_identity");
        }
        actions = {
            policy_pair_allow;
            policy_pair_deny;
            policy_pair_punt;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(policy_pair_counter);
        size = TABLE_SIZE_POLICY_PAIR;
    }

    // Rules of one protocol, every port.
    @name(".ingress.policy_proto") @id(48210044)
    table policy_proto {
        key = {
            meta.src_id: exact @name("src_identity");
            meta.dst_id: exact @name("dst_identity");
            meta.ip_proto: exact @name("ip_proto");
        }
        actions = {
            policy_proto_allow;
            policy_proto_deny;
            policy_proto_punt;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(policy_proto_counter);
        size = TABLE_SIZE_POLICY_PROTO;
    }

    // Rules of one destination port.
    @name(".ingress.policy_port") @id(42179810)
    table policy_port {
        key = {
            meta.src_id: exact @name("src_identity");
            meta.dst_id: exact @name("dst_identity");
            meta.ip_proto: exact @name("ip_proto");
            meta.l4_dst: exact @name("l4_dst_port");
        }
        actions = {
            policy_port_allow;
            policy_port_deny;
            policy_port_punt;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(policy_port_counter);
        size = TABLE_SIZE_POLICY_PORT;
    }

    // Rules of a destination port range, one entry per atom of the range.
    @name(".ingress.policy_range") @id(35450543)
    table policy_range {
        key = {
            meta.src_id2: exact @name("src_identity");
            meta.dst_id2: exact @name("dst_identity");
            meta.ip_proto2: exact @name("ip_proto");
            meta.dst_port_class: exact @name("dst_port_class");
        }
        actions = {
            policy_range_allow;
            policy_range_deny;
            policy_range_punt;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(policy_range_counter);
        size = TABLE_SIZE_POLICY_RANGE;
    }

    // Replies of allow rules over every port of a protocol (TCP with ACK).
    @name(".ingress.reply_proto") @id(34630329)
    table reply_proto {
        key = {
            meta.src_id: exact @name("src_identity");
            meta.dst_id: exact @name("dst_identity");
            meta.ip_proto: exact @name("ip_proto");
            meta.tcp_ack: exact @name("tcp_ack");
        }
        actions = {
            reply_proto_allow;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(reply_proto_counter);
        size = TABLE_SIZE_REPLY_PROTO;
    }

    // Replies from one service port.
    @name(".ingress.reply_port") @id(42749209)
    table reply_port {
        key = {
            meta.src_id: exact @name("src_identity");
            meta.dst_id: exact @name("dst_identity");
            meta.ip_proto: exact @name("ip_proto");
            meta.l4_src: exact @name("l4_src_port");
            meta.tcp_ack: exact @name("tcp_ack");
        }
        actions = {
            reply_port_allow;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(reply_port_counter);
        size = TABLE_SIZE_REPLY_PORT;
    }

    // Replies from a service port range, per atom.
    @name(".ingress.reply_range") @id(48760757)
    table reply_range {
        key = {
            meta.src_id2: exact @name("src_identity");
            meta.dst_id2: exact @name("dst_identity");
            meta.ip_proto2: exact @name("ip_proto");
            meta.src_port_class: exact @name("src_port_class");
            meta.tcp_ack2: exact @name("tcp_ack");
        }
        actions = {
            reply_range_allow;
            @defaultonly NoAction;
        }
        const default_action = NoAction();
        TABLE_COUNTERS(reply_range_counter);
        size = TABLE_SIZE_REPLY_RANGE;
    }

    // ---- 8. L2 forwarding ---------------------------------------------------

    @name(".forward")
    action forward(PORT_T port) {
        meta.egress_port = port;
        meta.flood = 0;
    }

    @name(".flood")
    action flood() {
        meta.flood = 1;
    }

    // Unknown unicast, broadcast and multicast flood to the segment's group.
    @name(".ingress.l2") @id(41579476)
    table l2 {
        key = {
            meta.segment: exact @name("segment");
            hdr.ethernet.dst_addr: exact @name("dst_mac");
        }
        actions = {
            forward;
            @defaultonly flood;
        }
        const default_action = flood();
        size = TABLE_SIZE_L2;
    }
#ifndef ISO_INGRESS_APPLY
    apply {
        // The role egress isolates by: the port's, or a fabric tag's.
        bit<2> sender_role = ROLE_ISOLATED;
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

        // 3. LLDP is link-local: always to the controller, even from ports
        // not configured yet (topology discovery needs it).
        if (hdr.ethernet.ether_type == ETHERTYPE_LLDP) {
            meta.to_cpu = 1;
            return;
        }

        // 2. Port role and segment.
        ports.apply();
        if (meta.drop == 1) {
            return;
        }
        sender_role = meta.role;
        if (hdr.fabric.isValid()) {
            // 2a. A fabric tag comes only from another p4ctl switch, over an
            // uplink; elsewhere it would let a host pick its segment.
            if (meta.role != ROLE_UPLINK || hdr.fabric.version != FABRIC_VERSION
                    || hdr.fabric.ether_type == ETHERTYPE_FABRIC) {
                meta.drop = 1;
                return;
            }
            // The frame keeps the segment, role and community of the port
            // it entered the fabric on; the segment's flood group has the
            // segment's id on every switch.
            meta.segment = hdr.fabric.segment;
            meta.community = hdr.fabric.community;
            meta.mcast_group = hdr.fabric.segment;
            sender_role = hdr.fabric.role;
            hdr.ethernet.ether_type = hdr.fabric.ether_type;
            hdr.fabric.setInvalid();
        } else {
            segments.apply();
            if (meta.drop == 1) {
                return;
            }
        }

        // Normalise the flow fields.
        if (hdr.arp.isValid()) {
            meta.src_ip4 = hdr.arp.spa;
            meta.dst_ip4 = hdr.arp.tpa;
        } else if (hdr.ipv4.isValid()) {
            meta.src_ip4 = hdr.ipv4.src_addr;
            meta.dst_ip4 = hdr.ipv4.dst_addr;
            meta.ip_proto = hdr.ipv4.protocol;
            meta.ip_proto2 = hdr.ipv4.protocol;
        } else if (hdr.ipv6.isValid()) {
            meta.is_ipv6 = 1;
            meta.ip_proto = hdr.ipv6.next_hdr;
            meta.ip_proto2 = hdr.ipv6.next_hdr;
        }
        if (hdr.tcp.isValid()) {
            meta.l4_src = hdr.tcp.src_port;
            meta.l4_dst = hdr.tcp.dst_port;
            meta.tcp_flags = hdr.tcp.flags;
            meta.tcp_ack = hdr.tcp.flags[4:4];
            meta.tcp_ack2 = hdr.tcp.flags[4:4];
        } else if (hdr.udp.isValid()) {
            meta.l4_src = hdr.udp.src_port;
            meta.l4_dst = hdr.udp.dst_port;
        }

        if (meta.role == ROLE_UPLINK) {
            // Traffic from another switch was checked at its first hop;
            // egress isolates it by the role it was sent from.
            meta.role = sender_role;
            meta.from_uplink = 1;
            meta.forward = 1;
        } else if (hdr.arp.isValid() || hdr.ipv4.isValid() || hdr.ipv6.isValid()) {
            bool is_nd = hdr.ipv6.isValid() && hdr.icmp.isValid()
                && hdr.icmp.icmp_type >= ICMPV6_ND_FIRST && hdr.icmp.icmp_type <= ICMPV6_ND_LAST;

            // 4. Anti-spoofing. Neighbour discovery uses link-local and
            // unspecified sources, so it is not checked on the IPv6 source.
            if (meta.is_ipv6 == 1) {
                if (!is_nd) {
                    src_identity_v6.apply();
                }
            } else {
                src_identity_v4.apply();
            }
            if (meta.drop == 1) {
                return;
            }

            if (hdr.arp.isValid() || is_nd) {
                // 3. Address resolution: to the controller, or flooded in
                // the segment (PVLAN egress rules still apply).
                if (meta.punt_arp == 1) {
                    meta.to_cpu = 1;
                    return;
                }
                meta.forward = 1;
            } else {
                // 5 and 7. Destination identity, then the ACL.
                if (meta.is_ipv6 == 1) {
                    dst_identity_v6.apply();
                    acl_v6.apply();
                } else {
                    dst_identity_v4.apply();
                    acl_v4.apply();
                }
                // 6. Identity policy, then the segment default.
                bit<2> verdict = meta.acl_verdict;
                meta.denied_by = DENIED_BY_ACL;
                if (verdict == VERDICT_NONE) {
                    meta.denied_by = DENIED_BY_POLICY;
                    POLICY_LOOKUP(policy_pair.apply());
                    POLICY_LOOKUP(policy_proto.apply());
                    POLICY_LOOKUP(policy_port.apply());
                    if (dst_port_class.apply().hit) {
                        POLICY_LOOKUP(policy_range.apply());
                    }
                    POLICY_LOOKUP(reply_proto.apply());
                    POLICY_LOOKUP(reply_port.apply());
                    if (src_port_class.apply().hit) {
                        POLICY_LOOKUP(reply_range.apply());
                    }
                    verdict = meta.policy_verdict;
                }
                if (verdict == VERDICT_NONE) {
                    meta.denied_by = DENIED_BY_DEFAULT;
                    if (meta.default_allow == 1) {
                        verdict = VERDICT_ALLOW;
                    } else {
                        verdict = VERDICT_DENY;
                    }
                }
                if (verdict == VERDICT_ALLOW) {
                    meta.forward = 1;
                } else if (verdict == VERDICT_PUNT) {
                    meta.to_cpu = 1;
                    return;
                } else {
                    meta.drop = 1;
                    meta.denied = 1;
                    return;
                }
            }
        } else {
            // Any other ethertype on an access port is dropped.
            meta.drop = 1;
            return;
        }

        if (meta.forward == 1) {
            // 8. L2.
            l2.apply();
        }
    }
#else
#include ISO_INGRESS_APPLY
#endif
}

#endif
