// Architecture-neutral parser and deparser helpers.
//
// IsoParser is a sub-parser: the architecture main copies the ingress port
// into meta.ingress_port and then applies it. It takes the packet-out
// header from the CPU port, then IsoFrameParser the frame; an architecture
// that parses the frame again in egress (TNA) applies IsoFrameParser
// alone. CPU_PORT and PORT_T come from the architecture main.

#ifndef P4CTL_PARSER_P4
#define P4CTL_PARSER_P4

parser IsoFrameParser(packet_in pkt, inout headers_t hdr) {
    state start {
        transition parse_ethernet;
    }

    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_FABRIC: parse_fabric;
            ETHERTYPE_IPV4: parse_ipv4;
            ETHERTYPE_IPV6: parse_ipv6;
            ETHERTYPE_ARP: parse_arp;
            default: accept;
        }
    }

    // One tag at most: ingress drops a frame with a tag inside its tag.
    state parse_fabric {
        pkt.extract(hdr.fabric);
        transition select(hdr.fabric.ether_type) {
            ETHERTYPE_IPV4: parse_ipv4;
            ETHERTYPE_IPV6: parse_ipv6;
            ETHERTYPE_ARP: parse_arp;
            default: accept;
        }
    }

    state parse_arp {
        pkt.extract(hdr.arp);
        transition accept;
    }

    // L4 is parsed only for unfragmented (or first-fragment) IPv4 packets
    // without options; anything else keeps l4 ports at zero and can only
    // match policy entries that do not look at ports.
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (5, 0, PROTO_TCP): parse_tcp;
            (5, 0, PROTO_UDP): parse_udp;
            (5, 0, PROTO_ICMP): parse_icmp;
            default: accept;
        }
    }

    // Extension headers are not walked: a packet whose first next-header is
    // not TCP, UDP or ICMPv6 matches on that next-header value alone.
    state parse_ipv6 {
        pkt.extract(hdr.ipv6);
        transition select(hdr.ipv6.next_hdr) {
            PROTO_TCP: parse_tcp;
            PROTO_UDP: parse_udp;
            PROTO_ICMPV6: parse_icmp;
            default: accept;
        }
    }

    state parse_tcp {
        pkt.extract(hdr.tcp);
        transition accept;
    }

    state parse_udp {
        pkt.extract(hdr.udp);
        transition accept;
    }

    state parse_icmp {
        pkt.extract(hdr.icmp);
        transition accept;
    }
}

parser IsoParser(packet_in pkt, out headers_t hdr, inout local_metadata_t meta) {
    IsoFrameParser() frame;

    state start {
        transition select(meta.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_frame;
        }
    }

    state parse_packet_out {
        pkt.extract(hdr.packet_out);
        transition parse_frame;
    }

    state parse_frame {
        frame.apply(pkt, hdr);
        transition accept;
    }
}

// IsoDeparser emits the headers in wire order. packet_out is never emitted
// (ingress invalidates it); packet_in is emitted only towards the CPU.
control IsoDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);
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

#endif
