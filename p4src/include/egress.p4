// Architecture-neutral egress: packet-in header, PVLAN egress isolation and
// per-port egress counters (design section 3, steps 3, 9 and 10). The main
// copies its egress port into meta.egress_port before applying IsoEgress and
// drops the packet when meta.drop is set after it. EGRESS_TX(port) runs first
// in egress.ports' action, whose parameters it may read: PNA sends the packet
// there (send_to_port takes an action parameter) and looks the port up on
// packet-out too. Tofino, whose actions cannot compare a parameter with a
// field, defines EGRESS_SEGMENT_CHECK_IN_APPLY and the two hooks below.
#ifndef EGRESS_TX
#define EGRESS_TX(port)
#define EGRESS_TX_ON_BYPASS 0
#endif
#ifndef ISO_EGRESS_DECLS
#define ISO_EGRESS_DECLS
#define ISO_EGRESS_PORT_CHECKS
#endif
#ifndef P4CTL_EGRESS_P4
#define P4CTL_EGRESS_P4
control IsoEgress(inout headers_t hdr, inout local_metadata_t meta) {
    ISO_EGRESS_DECLS
    @name(".egress.port_counter") PORT_COUNTER(port_counter);

    @name(".egress_drop")
    action egress_drop() {
        meta.drop = 1;
    }

    @name(".set_egress_port")
    action set_egress_port(segment_t segment, bit<2> role, community_t community, bit<1> tagged, PORT_T port) {
        EGRESS_TX(port);
        meta.egress_role = role;
        meta.egress_community = community;
        meta.egress_tagged = tagged;
        // Uplinks carry every segment; other ports only their own.
#ifndef EGRESS_SEGMENT_CHECK_IN_APPLY
        if (role != ROLE_UPLINK && segment != meta.segment) {
            meta.drop = 1;
        }
#endif
    }
    // Egress port -> its role; ports without an entry transmit nothing.
    @name(".egress.ports") @id(44422754)
    table ports {
        key = {
            meta.egress_port: exact @name("egress_port");
        }
        actions = {
            set_egress_port;
            @defaultonly egress_drop;
        }
        const default_action = egress_drop();
        size = TABLE_SIZE_PORTS;
    }

    apply {
        meta.drop = 0;
        meta.egress_tagged = 0;
        if (meta.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = meta.ingress_port;
            hdr.packet_in._pad = 0;
            return;
        }
        if (meta.bypass == 1) {
            if (EGRESS_TX_ON_BYPASS == 1) {
                // Only to send it: packet-out skips the port checks.
                ports.apply();
                meta.drop = 0;
            }
            return;
        }
        // Never back out of the port the packet came in on.
        if (meta.egress_port == meta.ingress_port) {
            meta.drop = 1;
            return;
        }
        ports.apply();
        if (meta.drop == 1) {
            return;
        }
        ISO_EGRESS_PORT_CHECKS
        // Split horizon: what came from an uplink leaves through another only
        // over a fabric link, which carries the spanning tree's floods and
        // paths; other uplinks (outside networks, unseen links) close a loop.
        if (meta.from_uplink == 1 && meta.egress_role == ROLE_UPLINK && meta.egress_tagged == 0) {
            meta.drop = 1;
            return;
        }
        // 9. PVLAN: isolated reaches only promiscuous and uplink ports;
        // community also reaches its own community; promiscuous and uplink
        // reach everything.
        if (meta.egress_role == ROLE_ISOLATED) {
            // Only promiscuous and uplink ports reach an isolated port.
            if (meta.role == ROLE_ISOLATED || meta.role == ROLE_COMMUNITY) {
                meta.drop = 1;
                return;
            }
        } else if (meta.egress_role == ROLE_COMMUNITY) {
            // Isolated ports never reach a community port; community ports
            // only their own community.
            if (meta.role == ROLE_ISOLATED
                    || (meta.role == ROLE_COMMUNITY && meta.community != meta.egress_community)) {
                meta.drop = 1;
                return;
            }
        }
        // 10. Onto a fabric link: tag the frame with the segment, role and
        // community it was sent from.
        if (meta.egress_tagged == 1) {
            hdr.fabric.setValid();
            hdr.fabric.version = FABRIC_VERSION;
            hdr.fabric._pad = 0;
            hdr.fabric.role = meta.role;
            hdr.fabric.segment = meta.segment;
            hdr.fabric.community = meta.community;
            hdr.fabric.ether_type = hdr.ethernet.ether_type;
            hdr.ethernet.ether_type = ETHERTYPE_FABRIC;
        }
        COUNT_PORT(port_counter, meta.egress_port);
    }
}

#endif
