package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// TestEmbeddedPipelineContract pins the names, match kinds and widths the
// controller relies on. A change to p4src that breaks one of them must
// change the controller too, and this test says where.
func TestEmbeddedPipelineContract(t *testing.T) {
	p, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	if p.Cookie == 0 || len(p.DeviceConfig) == 0 {
		t.Fatalf("cookie %#x, device config %d bytes", p.Cookie, len(p.DeviceConfig))
	}
	want := map[string]string{
		"ingress.ports":           "ingress_port:exact:9",
		"ingress.segments":        "segment:exact:16",
		"ingress.src_identity_v4": "ingress_port:exact:9 src_mac:exact:48 src_ip:exact:32",
		"ingress.src_identity_v6": "ingress_port:exact:9 src_mac:exact:48 src_ip:exact:128",
		"ingress.dst_identity_v4": "segment:exact:16 dst_ip:lpm:32",
		"ingress.dst_identity_v6": "segment:exact:16 dst_ip:lpm:128",
		"ingress.acl_v4":          "segment:ternary:16 src_ip:ternary:32 dst_ip:ternary:32 ip_proto:ternary:8 l4_src_port:ternary:16 l4_dst_port:ternary:16",
		"ingress.acl_v6":          "segment:ternary:16 src_ip:ternary:128 dst_ip:ternary:128 ip_proto:ternary:8 l4_src_port:ternary:16 l4_dst_port:ternary:16",
		"ingress.dst_port_class":  "segment:exact:16 ip_proto:exact:8 l4_dst_port:range:16",
		"ingress.src_port_class":  "segment:exact:16 ip_proto:exact:8 l4_src_port:range:16",
		"ingress.policy_pair":     "src_identity:exact:16 dst_identity:exact:16",
		"ingress.policy_proto":    "src_identity:exact:16 dst_identity:exact:16 ip_proto:exact:8",
		"ingress.policy_port":     "src_identity:exact:16 dst_identity:exact:16 ip_proto:exact:8 l4_dst_port:exact:16",
		"ingress.policy_range":    "src_identity:exact:16 dst_identity:exact:16 ip_proto:exact:8 dst_port_class:exact:16",
		"ingress.reply_proto":     "src_identity:exact:16 dst_identity:exact:16 ip_proto:exact:8 tcp_ack:exact:1",
		"ingress.reply_port":      "src_identity:exact:16 dst_identity:exact:16 ip_proto:exact:8 l4_src_port:exact:16 tcp_ack:exact:1",
		"ingress.reply_range":     "src_identity:exact:16 dst_identity:exact:16 ip_proto:exact:8 src_port_class:exact:16 tcp_ack:exact:1",
		"ingress.l2":              "segment:exact:16 dst_mac:exact:48",
		"egress.ports":            "egress_port:exact:9",
	}
	if got := len(p.Info.Tables()); got != len(want) {
		t.Errorf("pipeline has %d tables, want %d", got, len(want))
	}
	for name, fields := range want {
		tb, ok := p.Info.Table(name)
		if !ok {
			t.Errorf("table %s missing", name)
			continue
		}
		var got []string
		for _, f := range tb.Fields {
			got = append(got, fmt.Sprintf("%s:%s:%d", f.Name, f.Kind, f.Bitwidth))
		}
		if g := strings.Join(got, " "); g != fields {
			t.Errorf("table %s fields:\n got %s\nwant %s", name, g, fields)
		}
		if tb.Size < 1024 {
			t.Errorf("table %s size %d: BMv2's default, the program must size it", name, tb.Size)
		}
	}
	// Identity-pair rules live in exact-match tables (SRAM, hash tables),
	// each with a direct counter; only the port classes need priorities.
	for _, name := range []string{"ingress.policy_pair", "ingress.policy_proto", "ingress.policy_port", "ingress.policy_range",
		"ingress.reply_proto", "ingress.reply_port", "ingress.reply_range"} {
		if tb, _ := p.Info.Table(name); tb == nil || tb.DirectCounterID == 0 || tb.NeedsPriority {
			t.Errorf("%s must be exact with a direct counter: %+v", name, tb)
		}
	}
	for _, a := range []string{"set_port", "set_segment", "set_src_identity", "set_dst_identity", "acl_allow", "acl_deny", "acl_punt",
		"policy_port_allow", "policy_pair_deny", "reply_range_allow", "set_dst_port_class", "set_src_port_class", "forward", "set_egress_port"} {
		if _, ok := p.Info.Action(a); !ok {
			t.Errorf("action %s missing", a)
		}
	}
	for _, hdr := range []string{"packet_in", "packet_out"} {
		m, ok := p.Info.PacketMetadata(hdr)
		if !ok {
			t.Errorf("controller header %s missing", hdr)
			continue
		}
		if f := m.Fields[0]; f.Bitwidth != 9 || !strings.HasSuffix(f.Name, "_port") {
			t.Errorf("%s first field %s:%d, want a 9-bit port", hdr, f.Name, f.Bitwidth)
		}
	}
	for _, c := range []string{"ingress.port_counter", "egress.port_counter"} {
		if ctr, ok := p.Info.Counter(c); !ok || ctr.Size < 511 || ctr.Unit != "both" {
			t.Errorf("counter %s: %+v", c, ctr)
		}
	}
}

func TestUnknownTarget(t *testing.T) {
	if _, err := Embedded("netfpga"); err == nil || !strings.Contains(err.Error(), `unknown target "netfpga"`) {
		t.Fatalf("err = %v", err)
	}
}
