package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/p4ctl/p4ctl/internal/netns"
	"github.com/p4ctl/p4ctl/pkg/lldp"
)

// rootNamespace makes a network namespace for the test, or skips saying
// why it cannot.
func rootNamespace(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("root tier: not root (network namespaces need root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("root tier: iproute2's ip is not on PATH")
	}
	ns := fmt.Sprintf("p4ctl-gnmi-%d-%d", os.Getpid()%100000, time.Now().UnixNano()%100000)
	if err := netns.IP("netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.IP("netns", "del", ns) })
	return ns
}

// TestAgentNetlink serves a namespace's real interfaces: a veth pair and,
// where the kernel has them, a bond and a VLAN on it. A link set down
// reaches an ON_CHANGE subscriber within a second, from netlink's event.
func TestAgentNetlink(t *testing.T) {
	ns := rootNamespace(t)
	ip := func(args ...string) error { return netns.IP(append([]string{"-n", ns}, args...)...) }
	for _, args := range [][]string{{"link", "add", "va", "type", "veth", "peer", "name", "vb"}, {"link", "set", "va", "up"}, {"link", "set", "vb", "up"}} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	// Bonds and VLANs where the kernel has them (some VM kernels have
	// neither; the in-process tests cover their rendering).
	bond := ip("link", "add", "bond0", "type", "bond", "mode", "active-backup") == nil
	if bond {
		for _, args := range [][]string{{"link", "add", "va2", "type", "veth", "peer", "name", "vb2"}, {"link", "set", "va2", "master", "bond0"},
			{"link", "set", "bond0", "up"}, {"link", "add", "link", "bond0", "name", "bond0.42", "type", "vlan", "id", "42"}} {
			if err := ip(args...); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		t.Log("this kernel has no bonding: the bond and VLAN checks are skipped here")
	}
	_, c := startAgent(t, Config{Source: NetlinkSource{Namespace: ns}, Ports: map[string]uint32{"va": 1, "vb": 2, "bond0": 0, "va2": 0, "bond0.42": 0}})

	if got := get(t, c, "/interfaces/interface[name=va]/state/id"); got["/interfaces/interface[name=va]/state/id"] != "1" {
		t.Errorf("va id: %v", got)
	}
	if got := get(t, c, "/interfaces/interface[name=vb]/state/counters/in-pkts"); len(got) != 1 {
		t.Errorf("vb counters: %v", got)
	}
	if bond {
		members := get(t, c, "/interfaces/interface[name=bond0]/aggregation/state/member")
		if v := members["/interfaces/interface[name=bond0]/aggregation/state/member"]; v != `["va2"]` {
			t.Errorf("bond members %q", v)
		}
		vlan := get(t, c, "/interfaces/interface[name=bond0]/subinterfaces/subinterface[index=42]/vlan")
		if v := vlan["/interfaces/interface[name=bond0]/subinterfaces/subinterface[index=42]/vlan/match/single-tagged/state/vlan-id"]; v != "42" {
			t.Errorf("VLAN subinterface: %v", vlan)
		}
	}

	s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Subscription: []*gpb.Subscription{
		{Path: p("/interfaces/interface[name=va]/state/oper-status"), Mode: gpb.SubscriptionMode_ON_CHANGE}}})
	recvUntil(t, s, "va up", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "[name=va]/state/oper-status", `"UP"`) })
	recvUntil(t, s, "sync", isSync)
	down := time.Now()
	if err := netns.IP("-n", ns, "link", "set", "vb", "down"); err != nil { // va loses its carrier
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				got <- err
				return
			}
			if hasLeaf(r, "[name=va]/state/oper-status", `"LOWER_LAYER_DOWN"`) || hasLeaf(r, "[name=va]/state/oper-status", `"DOWN"`) {
				got <- nil
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("va's oper-status change arrived %s after its peer went down", time.Since(down).Round(time.Microsecond))
	case <-time.After(time.Second):
		t.Fatal("no oper-status update within 1s of the link going down")
	}
}

// gnmiCLI finds OpenConfig's reference client.
func gnmiCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("gnmi_cli"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "gnmi_cli")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("gnmi_cli is not on PATH or in $(go env GOPATH)/bin: go install github.com/openconfig/gnmi/cmd/gnmi_cli@v0.14.1")
	return ""
}

// TestGnmiCLI: OpenConfig's reference client does Capabilities, Get and
// a ONCE Subscribe against the agent.
func TestGnmiCLI(t *testing.T) {
	cli := gnmiCLI(t)
	_, addr := serveTestAgent(t, Config{Target: "host1", Source: NewMemLinks(testLinks()...)})
	run := func(args ...string) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, cli, append([]string{"-address", addr, "-insecure", "-timeout", "10s"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gnmi_cli %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("-capabilities"); !strings.Contains(out, "openconfig-interfaces") || !strings.Contains(out, "JSON_IETF") {
		t.Errorf("capabilities:\n%s", out)
	}
	if out := run("-get", "-proto", `path: <elem: <name: "interfaces"> elem: <name: "interface" key: <key: "name" value: "eth0">> elem: <name: "state"> elem: <name: "oper-status">> encoding: JSON_IETF`); !strings.Contains(out, "UP") {
		t.Errorf("get:\n%s", out)
	}
	if out := run("-qt", "once", "-t", "host1", "-q", "/interfaces/interface[name=eth1]/state/mtu"); !strings.Contains(out, "1500") {
		t.Errorf("subscribe once:\n%s", out)
	}
}

// agentIn runs an agent for namespace ns, with an LLDP speaker made inside
// it on the interfaces matching only, and returns a client of it.
func agentIn(t *testing.T, ns, target, only string) gpb.GNMIClient {
	t.Helper()
	var sp *lldp.Speaker
	if err := netns.Do(ns, func() error {
		var err error
		sp, err = lldp.NewSpeaker(lldp.Config{Interfaces: regexp.MustCompile(only), TxInterval: time.Second, SystemName: target})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	l := sp.Local()
	_, c := startAgent(t, Config{Target: target, Source: NetlinkSource{Namespace: ns}, Interfaces: regexp.MustCompile(only),
		Neighbors: sp.Table(), Local: &LocalSystem{ChassisID: l.ChassisString(), ChassisIDType: l.ChassisIDSubtype, SystemName: l.SystemName}})
	return c
}

// TestTwoAgentsSeeEachOther: agents in two namespaces joined by a veth
// pair, each with its LLDP speaker, report each other as LLDP neighbors
// over gNMI (an ON_CHANGE subscription sees the neighbor arrive).
func TestTwoAgentsSeeEachOther(t *testing.T) {
	a, b := rootNamespace(t), rootNamespace(t)
	if err := netns.IP("link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b); err != nil {
		t.Fatal(err)
	}
	for ns, ifn := range map[string]string{a: "va", b: "vb"} {
		if err := netns.IP("-n", ns, "link", "set", ifn, "up"); err != nil {
			t.Fatal(err)
		}
	}
	ca := agentIn(t, a, "host-a", "^va$")
	cb := agentIn(t, b, "host-b", "^vb$")
	for _, tt := range []struct {
		c           gpb.GNMIClient
		local, peer string
		peerIf      string
	}{{ca, "va", "host-b", "vb"}, {cb, "vb", "host-a", "va"}} {
		s := subscribeTo(t, tt.c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Subscription: []*gpb.Subscription{
			{Path: p("/lldp/interfaces/interface[name=" + tt.local + "]/neighbors"), Mode: gpb.SubscriptionMode_ON_CHANGE}}})
		recvUntil(t, s, tt.peer+" on "+tt.local, func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "/state/system-name", `"`+tt.peer+`"`) })
		// The neighbor's leaves are written one by one: the port id may
		// follow the system name.
		var got map[string]string
		found := false
		for deadline := time.Now().Add(5 * time.Second); !found && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			got = get(t, tt.c, "/lldp/interfaces/interface[name="+tt.local+"]/neighbors")
			for k, v := range got {
				if strings.HasSuffix(k, "/state/port-id") && v == `"`+tt.peerIf+`"` {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: neighbor's port id %s not served: %v", tt.local, tt.peerIf, got)
		}
	}
}
