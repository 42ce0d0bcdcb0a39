#!/usr/bin/env python3
"""The p4ctl lab: BMv2 switches in Mininet, programmed by a p4ctl cluster.

The topology comes from a policy file: every Device is a BMv2
simple_switch_grpc switch, or for a `dpdk` device a host data plane
(p4ctl-swx: the PNA pipeline on DPDK's SWX pipeline, on af_packet ports);
every Endpoint placed on a device port is a Mininet host (a VM, on a host
data plane) with the endpoint's MAC and addresses on that port; the
fabric and host topologies add the cables between uplinks (which p4ctl
learns by LLDP, not from the lab). A three
node p4ctl cluster runs on loopback and applies the file (its devices'
addresses rewritten to the lab's switches). Then the Mininet CLI; with
--check the policy's flows (TCP and UDP, IPv4 and IPv6, PVLAN roles,
segments) and a live policy change; with --test also the scenarios of
failure and scale: a switch (or the host data plane) restarted, the leader
killed under traffic, 100,000 entries applied. Every check prints its
verdict and its figure.

Run as root from the repository: make lab [TOPO=single|fabric|host]
[POLICY=file], make lab-check, make lab-test.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml
from mininet.cli import CLI
from mininet.log import info, setLogLevel
from mininet.net import Mininet
from mininet.node import Host, Switch

GRPC_BASE = 50050  # device i listens on GRPC_BASE + i
GNMI_BASE = 50150  # device i's port agent (gNMI, LLDP) on GNMI_BASE + i
CPU_PORT = 510
MOVER = "web-2"    # the endpoint the host-move scenario moves
FABRIC_MTU = 9000  # on cables between switches: frames there carry an 8-byte tag
# On a cable to a host data plane: room for the tag, and within what its
# af_packet ports pass (frames of up to 1,976 bytes).
HOST_UPLINK_MTU = 1600
SWX_CPU_PORT = 255

# Topologies: the policy file, the cables between switch ports (device,
# port, device, port), the device the MOVER moves to (None: a spare port
# of its own switch), and the scenarios --test runs after the checks.
TOPOLOGIES = {
    "single": {"policy": "examples/segmentation.yaml", "cables": [], "move_to": None,
               "tests": ["host_move", "switch_restart", "leader_kill", "scale_apply"]},
    "fabric": {"policy": "examples/fabric.yaml", "move_to": "leaf1",
               "cables": [("leaf1", 5, "spine1", 1), ("leaf1", 6, "spine2", 1),
                          ("leaf2", 5, "spine1", 2), ("leaf2", 6, "spine2", 2)],
               "tests": ["host_move", "switch_restart", "leader_kill", "scale_apply"]},
    # A hypervisor (hv1: p4ctl-swx) with five VMs, uplinked to a BMv2 leaf
    # with three servers. The restart is the host data plane's (web-1's
    # device).
    "host": {"policy": "examples/host.yaml", "cables": [("hv1", 10, "leaf1", 10)], "move_to": None,
             "tests": ["switch_restart", "leader_kill"]},
}


class DataPlane(Switch):
    """A device of the lab: a process in the root namespace serving
    P4Runtime on 127.0.0.1:grpc_port over the node's interfaces, with no
    program until the controller pushes one. Port numbers are Mininet's
    interface numbers (addLink port2=N). Subclasses say how it is run
    (command) and what it is called (what)."""

    what = "P4Runtime server"

    def __init__(self, name, grpc_port, device_id=1, log_dir="/tmp", **kw):
        kw.setdefault("inNamespace", False)
        Switch.__init__(self, name, **kw)
        self.grpc_port, self.device_id, self.log_dir = grpc_port, device_id, log_dir
        self.proc = None

    def p4_ports(self):
        """(P4 port, interface name) of the node's interfaces."""
        return [(port, intf.name) for port, intf in sorted(self.intfs.items()) if port and intf.name != "lo"]

    def command(self):
        raise NotImplementedError

    def start(self, controllers):
        args = self.command()
        log = open(os.path.join(self.log_dir, "%s.log" % self.name), "a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        # 60 s: three switches start at once on two cores, each loading
        # its PI server; one that dies instead is reported at once.
        wait_port(self.grpc_port, 60, "%s's %s" % (self.name, self.what), self.proc, log.name)

    def kill(self):
        """The process dies (SIGKILL): its pipeline and entries are gone,
        frames stop; the interfaces stay."""
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self, deleteIntfs=True):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None
        Switch.stop(self, deleteIntfs)


class BMv2Switch(DataPlane):
    """A BMv2 simple_switch_grpc switch: the CPU port is CPU_PORT, thrift
    is off."""

    def command(self):
        args = ["simple_switch_grpc", "--device-id", str(self.device_id), "--no-p4"]
        for port, name in self.p4_ports():
            args += ["-i", "%d@%s" % (port, name)]
        return args + ["--", "--grpc-server-addr", "127.0.0.1:%d" % self.grpc_port, "--cpu-port", str(CPU_PORT)]


class SWXHost(DataPlane):
    """A hypervisor's data plane: p4ctl-swx (the `dpdk` target's PNA
    pipeline on DPDK's SWX pipeline), its P4 ports the node's interfaces
    through DPDK's af_packet driver (port N is <name>-ethN), the CPU port
    SWX_CPU_PORT. The data-plane thread busy-polls the second core. The
    interfaces carry no IPv6 and no address: an af_packet port also reads
    what the kernel sends on its interface, which would enter the
    pipeline."""

    what = "p4ctl-swx"

    def __init__(self, name, grpc_port, swx="bin/p4ctl-swx", **kw):
        DataPlane.__init__(self, name, grpc_port, **kw)
        self.swx = swx

    def command(self):
        args = [self.swx, "--device-id", str(self.device_id), "--listen", "127.0.0.1:%d" % self.grpc_port,
                "--cpu-port", str(SWX_CPU_PORT)]
        for i, (port, name) in enumerate(self.p4_ports()):
            subprocess.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name], check=True)
            args += ["--port", "%d=net_af_packet%d,iface=%s" % (port, i, name)]
        return args


def wait_port(port, seconds, what, proc=None, log=None):
    """Waits until something listens on 127.0.0.1:port. With proc, a
    process that exits first ends the wait at once, with the end of its
    log (when given) in the message."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            sys.exit("lab: %s exited with status %d before listening on 127.0.0.1:%d%s"
                     % (what, proc.returncode, port, log_tail(log)))
        time.sleep(0.1)
    sys.exit("lab: %s did not listen on 127.0.0.1:%d within %ds%s" % (what, port, seconds, log_tail(log)))


def log_tail(path, lines=10):
    if not path:
        return ""
    try:
        with open(path) as f:
            tail = f.read().splitlines()[-lines:]
    except OSError as e:
        return " (its log %s: %s)" % (path, e)
    return "; the end of %s:\n  %s" % (path, "\n  ".join(tail) if tail else "(empty)")


def load(policy):
    with open(policy) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return docs


def build(docs, log_dir, cables, move_to, swx):
    """The Mininet network of the policy's devices (a `dpdk` device is a
    host data plane, swx its p4ctl-swx), placed endpoints and
    cables, and the policy with the devices' addresses rewritten and their
    port agents named. The MOVER endpoint's host also gets a second link,
    to a spare port of move_to (or of its own switch) that the lab
    declares like its first (the port it moves to); returns that spare
    (device, port), or None."""
    net = Mininet(topo=None, build=False, controller=None, autoSetMacs=False)
    switches = {}
    hvs = 0
    for i, d in enumerate(x for x in docs if x.get("kind") == "Device"):
        port = GRPC_BASE + i
        if d.get("target") == "dpdk":
            hvs += 1
            switches[d["name"]] = net.addSwitch("hv%d" % hvs, cls=SWXHost, grpc_port=port, swx=swx,
                                                device_id=d.get("device_id", 1), log_dir=log_dir)
        else:
            switches[d["name"]] = net.addSwitch("s%d" % (i + 1), cls=BMv2Switch, grpc_port=port,
                                                device_id=d.get("device_id", 1), log_dir=log_dir)
        d["address"] = "127.0.0.1:%d" % port
        d["gnmi"] = "127.0.0.1:%d" % (GNMI_BASE + i)
    hosts = {}
    for e in (x for x in docs if x.get("kind") == "Endpoint"):
        if "device" not in e:
            continue  # placed by host name: not in the single-switch lab
        name = e["name"][:10]
        h = net.addHost(name, cls=Host, mac=e["mac"], ip=None)
        net.addLink(h, switches[e["device"]], port2=e["port"])
        hosts[e["name"]] = (h, e)
    for a, pa, b, pb in cables:
        net.addLink(switches[a], switches[b], port1=pa, port2=pb)
    spare = None
    if MOVER in hosts:
        h, e = hosts[MOVER]
        target = move_to or e["device"]
        first = next(x for x in docs if x.get("kind") == "Port" and x.get("device") == e["device"] and x["port"] == e["port"])
        used = {x["port"] for x in docs if x.get("kind") == "Port" and x.get("device") == target}
        port = next(n for n in range(1, CPU_PORT) if n not in used)
        docs.append(dict(first, device=target, port=port))
        net.addLink(h, switches[target], port2=port)
        spare = (target, port)
    return net, hosts, spare


def fabric_mtu(net):
    """Cables between switches carry the fabric tag: room for it."""
    for link in net.links:
        a, b = link.intf1, link.intf2
        if isinstance(a.node, DataPlane) and isinstance(b.node, DataPlane):
            mtu = HOST_UPLINK_MTU if isinstance(a.node, SWXHost) or isinstance(b.node, SWXHost) else FABRIC_MTU
            for intf in (a, b):
                subprocess.run(["ip", "link", "set", "dev", intf.name, "mtu", str(mtu)], check=True)


def static_neighbours(hosts):
    """Every host learns every other endpoint's MAC from the lab, as a
    hypervisor's agent tells its VMs: a host data plane (PNA) replicates
    nothing, so an ARP request or neighbour solicitation flooded to it
    would be dropped."""
    for h, e in hosts.values():
        intf = h.defaultIntf()
        for _, o in hosts.values():
            if o is e:
                continue
            for ip in o.get("ips", []):
                h.cmd("ip %sneigh replace %s lladdr %s dev %s nud permanent" % ("-6 " if ":" in ip else "", ip, o["mac"], intf))


def configure(hosts):
    for h, e in hosts.values():
        intf = h.defaultIntf()
        for other in h.intfList()[1:]:
            h.cmd("ip link set %s down" % other)
        # veth leaves TCP/UDP checksums to the "hardware" (offload); BMv2
        # forwards the frame as it read it, so the receiver would see a bad
        # checksum and drop it. Checksums are computed by the sender.
        h.cmd("ethtool -K %s rx off tx off sg off >/dev/null 2>&1" % intf)
        h.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.%s.accept_ra=0" % intf)
        for ip in e.get("ips", []):
            if ":" in ip:
                # /32 like IPv4's /16: every lab address is on-link, so
                # what keeps two hosts apart is the switch, not a missing
                # route on the host.
                h.cmd("ip -6 addr add %s/32 dev %s nodad" % (ip, intf))
            else:
                h.cmd("ip addr add %s/16 dev %s" % (ip, intf))


def start_agents(net, p4ctl, work):
    """A port agent per switch (gNMI with LLDP on the switch's interfaces,
    as the devices' gnmi addresses say) and an LLDP speaker in the MOVER's
    host, which announces its host name."""
    procs = []
    for i, sw in enumerate(net.switches):
        pm = os.path.join(work, "%s.ports" % sw.name)
        with open(pm, "w") as f:
            for port, intf in sorted(sw.intfs.items()):
                if port and intf.name != "lo":
                    f.write("%d: %s\n" % (port, intf.name))
        log = open(os.path.join(work, "%s-agent.log" % sw.name), "w")
        args = [p4ctl, "agent", "--listen", "127.0.0.1:%d" % (GNMI_BASE + i), "--port-map", pm]
        # A host data plane's agent serves port state only: its af_packet
        # ports would read the agent's own LLDP frames as arriving.
        if not isinstance(sw, SWXHost):
            args += ["--lldp", "--lldp-source", "speaker", "--lldp-interval", "1s"]
        procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        wait_port(GNMI_BASE + i, 30, "%s's port agent" % sw.name, procs[-1], log.name)
    return procs


def start_host_speaker(host, name, p4ctl, work):
    """An LLDP speaker in host's namespace announcing name (its own UTS
    namespace, so the name is the host's and not the machine's)."""
    log = open(os.path.join(work, "%s-agent.log" % name), "w")
    return host.popen(["unshare", "--uts", "sh", "-c", "hostname %s && exec %s agent --listen 127.0.0.1:0 --lldp "
                       "--lldp-source speaker --lldp-interval 1s --interfaces '^%s-eth'" % (name, p4ctl, host.name)],
                      stdout=log, stderr=subprocess.STDOUT)


class Cluster:
    """Three p4ctl nodes on loopback; node 1 bootstraps and applies the
    policy once it leads."""

    def __init__(self, p4ctl, policy_file, work):
        self.p4ctl, self.work, self.procs = p4ctl, work, []
        for n in range(3):
            base = 9700 + 10 * n
            args = [p4ctl, "serve", "--data-dir", os.path.join(work, "node%d" % (n + 1)),
                    "--api-addr", "127.0.0.1:%d" % base, "--raft-addr", "127.0.0.1:%d" % (base + 1),
                    "--metrics-addr", "127.0.0.1:%d" % (base + 2)]
            args += ["--bootstrap", "--apply", policy_file] if n == 0 else ["--join", "127.0.0.1:9700"]
            log = open(os.path.join(work, "node%d.log" % (n + 1)), "w")
            self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
            wait_port(base, 30, "p4ctl node %d's API" % (n + 1), self.procs[-1], log.name)
            time.sleep(1 if n == 0 else 0.2)

    def api(self, n):
        return "127.0.0.1:%d" % (9700 + 10 * n)

    def alive(self):
        return [n for n, p in enumerate(self.procs) if p.poll() is None]

    def run(self, *args, check=True):
        """A p4ctl client command against a live node."""
        out = subprocess.run([self.p4ctl] + list(args) + ["--server", self.api(self.alive()[0])],
                             capture_output=True, text=True)
        if check and out.returncode != 0:
            sys.exit("lab: p4ctl %s: %s" % (" ".join(args), out.stderr.strip()))
        return out

    def devices(self):
        out = self.run("get", "devices", "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else []

    def leader(self):
        """The index of the node that leads, as a live node reports it."""
        for n in self.alive():
            out = subprocess.run([self.p4ctl, "cluster", "status", "-o", "json", "--server", self.api(n)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                continue
            st = json.loads(out.stdout)
            for m in st.get("members", []):
                if m.get("leader"):
                    for k in range(3):
                        if m.get("api_addr") == self.api(k):
                            return k
        return None

    def kill(self, n):
        self.procs[n].kill()
        self.procs[n].wait()

    def wait_in_sync(self, seconds):
        start = time.time()
        while time.time() < start + seconds:
            devs = self.devices()
            if devs and all(d["in_sync"] for d in devs):
                return time.time() - start
            time.sleep(0.2)
        sys.exit("lab: devices not in sync within %ds: %s" % (seconds, self.devices()))

    def wait_links(self, n, seconds):
        """Until every node knows n links (both directions of every cable):
        followers learn them from the switches' port agents over gNMI."""
        start = time.time()
        while time.time() < start + seconds:
            ok = True
            for k in self.alive():
                out = subprocess.run([self.p4ctl, "get", "links", "-o", "json", "--server", self.api(k)],
                                     capture_output=True, text=True)
                if out.returncode != 0 or len(json.loads(out.stdout or "[]")) < n:
                    ok = False
            if ok:
                return time.time() - start
            time.sleep(0.3)
        sys.exit("lab: the nodes did not learn %d links within %ds: %s" % (n, seconds, self.run("get", "links", check=False).stdout))

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()


def addr(hosts, name, v6=False):
    return [a for a in hosts[name][1]["ips"] if (":" in a) == v6][0]


def flow(hosts, src, dst, port, v6=False, udp=False):
    """Whether a TCP connection from src to dst's port opens (for UDP:
    whether a datagram arrives), and how long the answer took."""
    s, _ = hosts[src]
    d, _ = hosts[dst]
    ip = addr(hosts, dst, v6)
    if udp:
        got = "/tmp/p4ctl-lab-udp-%s-%d" % (dst, port)
        d.cmd("rm -f %s; nc -u -l -k %s %d > %s 2>/dev/null &" % (got, "-6" if v6 else "-4", port, got))
        time.sleep(0.2)
        start = time.time()
        token = "probe-%d" % int(start * 1000)
        ok = False
        for _ in range(3):
            s.cmd("echo %s | nc -u -w 1 -q 0 %s %d >/dev/null 2>&1" % (token, ip, port))
            time.sleep(0.2)
            with open(got, errors="replace") as f:
                if token in f.read():
                    ok = True
                    break
        d.cmd("kill %nc")
        return ok, time.time() - start
    d.cmd("nc -l%s -k %d >/dev/null 2>&1 &" % ("6" if v6 else "", port))
    time.sleep(0.2)
    start = time.time()
    ok = s.cmd("nc -z -w 1 %s %d && echo OPEN" % (ip, port)).strip().endswith("OPEN")
    d.cmd("kill %nc")
    return ok, time.time() - start


def check(hosts):
    """The policy as written, both ways: each case prints its verdict and
    time; the run fails on the first wrong one."""
    T, U = "tcp", "udp"
    cases = [
        ("web-1", "app-1", T, 8080, False, True, "web-to-app allows tcp/8080"),
        ("web-1", "app-1", T, 8443, True, True, "web-to-app allows tcp/8443 over IPv6"),
        ("web-1", "app-1", T, 22, False, False, "tcp/22 is not in any policy: default deny"),
        ("web-1", "app-1", T, 22, True, False, "the same over IPv6"),
        ("app-1", "db-1", T, 5432, False, True, "app-to-db allows tcp/5432"),
        ("app-1", "db-1", T, 5432, True, True, "app-to-db allows tcp/5432 over IPv6"),
        ("app-1", "db-1", U, 5432, False, False, "app-to-db is tcp only: udp/5432 is denied"),
        ("web-1", "db-1", T, 5432, False, False, "web does not reach the database"),
        ("web-1", "db-1", T, 5432, True, False, "nor over IPv6"),
        ("web-1", "web-2", T, 8080, False, False, "isolated ports never reach each other"),
        ("app-1", "web-1", T, 8080, False, False, "app cannot open a connection back to web"),
        ("batch-1", "batch-2", U, 7005, False, True, "community members reach each other: batch-peers allows udp/7000-7010"),
        ("batch-1", "db-1", U, 7010, False, True, "batch-peers reaches the db tier, udp/7010"),
        ("batch-1", "db-1", U, 7011, False, False, "udp/7011 is outside batch-peers' range"),
        ("batch-1", "web-1", U, 7005, False, False, "a community port never reaches an isolated one"),
        ("guest-1", "app-1", T, 8080, False, False, "the guest segment cannot reach prod"),
        ("guest-1", "app-1", T, 8080, True, False, "nor over IPv6"),
        ("web-1", "guest-1", T, 80, False, False, "prod cannot reach the guest segment"),
        ("guest-1", "guest-2", T, 80, False, False, "isolated guest ports never reach each other, even in a default-allow segment"),
        ("web-2", "db-1", T, 5432, False, False, "the other web server does not reach the database either"),
        ("batch-2", "batch-1", U, 7005, False, True, "batch-peers holds both ways between community members"),
        ("db-1", "app-1", T, 8080, False, False, "the database opens no connection to the app tier"),
        ("guest-2", "guest-1", T, 80, False, False, "isolated guest ports never reach each other, the other way"),
    ]
    passed = failed = 0
    for src, dst, proto, port, v6, want, what in cases:
        if src not in hosts or dst not in hosts:
            continue
        if v6 and not [a for a in hosts[dst][1]["ips"] if ":" in a]:
            continue
        ok, took = flow(hosts, src, dst, port, v6, udp=proto == U)
        verdict = "PASS" if ok == want else "FAIL"
        failed += verdict == "FAIL"
        passed += verdict == "PASS"
        a, b = hosts[src][1]["device"], hosts[dst][1]["device"]
        where = a if a == b else "%s->%s" % (a, b)
        print("%s  %-7s -> %-7s %s/%-5d %s: %s (%.2fs)" % (verdict, src, dst, proto, port, "v6" if v6 else "v4",
                                                        "open" if ok else "refused", took) + "  [%s] " % where + what)
    return passed, failed


LIVE_CHANGE = """kind: Policy
name: web-to-db-metrics
segment: prod
from: "tier: web"
to: {tier: db}
rules:
  - {proto: tcp, ports: [9187]}
"""


def live_change(cluster, hosts, work):
    """A policy change on live traffic: web-1 tries db-1's tcp/9187 every
    50 ms while a policy allowing it is applied; the figure is the time
    from the apply to the first connection that opens. Returns (passed,
    failed)."""
    if "web-1" not in hosts or "db-1" not in hosts:
        return 0, 0
    if flow(hosts, "web-1", "db-1", 9187)[0]:
        print("FAIL  web-1  -> db-1   tcp/9187  v4: open before any policy allows it")
        return 0, 1
    d, de = hosts["db-1"]
    s, _ = hosts["web-1"]
    ip = [a for a in de["ips"] if ":" not in a][0]
    d.cmd("nc -l -k 9187 >/dev/null 2>&1 &")
    time.sleep(0.2)
    path = os.path.join(work, "live-change.yaml")
    with open(path, "w") as f:
        f.write(LIVE_CHANGE)
    start = time.time()
    subprocess.run([cluster.p4ctl, "apply", "-f", path, "--server", "127.0.0.1:9710", "--wait=false"], check=True,
                   capture_output=True)
    opened = None
    while time.time() < start + 20:
        if s.cmd("nc -z -w 1 %s 9187 && echo OPEN" % ip).strip().endswith("OPEN"):
            opened = time.time() - start
            break
        time.sleep(0.05)
    d.cmd("kill %nc")
    if opened is None:
        print("FAIL  web-1  -> db-1   tcp/9187  v4: still refused 20s after the policy allowing it was applied")
        return 0, 1
    print("PASS  web-1  -> db-1   tcp/9187  v4: open %.2fs after apply (through a follower)  a policy change on live traffic" % opened)
    return 1, 0


PROBE = """
import socket, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
while True:
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(0.2)
    try:
        s.connect((ip, port))
        r = "ok"
    except OSError:
        r = "no"
    finally:
        s.close()
    print("%.3f %s" % (time.time(), r), flush=True)
    time.sleep(0.05)
"""


def probe(host, ip, port, out):
    """A TCP connection attempt from host to ip:port every 50 ms (a denied
    one gives up after 200 ms), each logged as "<unix time> ok|no" in out,
    until stopped."""
    return host.popen(["python3", "-c", PROBE, ip, str(port)], stdout=open(out, "w"), stderr=subprocess.DEVNULL)


def samples(out):
    with open(out) as f:
        return [(float(t), r == "ok") for t, r in (line.split() for line in f if len(line.split()) == 2)]


def longest_gap(rows, start, end):
    """The longest time between consecutive successful probes within
    [start, end]: how long allowed traffic stopped flowing."""
    oks = [t for t, ok in rows if ok and start <= t <= end]
    if not oks:
        return None
    edges = [start] + oks + [end]
    return max(b - a for a, b in zip(edges, edges[1:]))


def serve_tcp(hosts, name, port):
    hosts[name][0].cmd("nc -l -k %d >/dev/null 2>&1 &" % port)


def switch_restart(net, cluster, hosts, work):
    """web-1's switch (or host data plane) killed and restarted gets its
    pipeline and entries back with no operator action: the figure is the
    time from the restart to the first allowed connection, with a denied
    flow probed throughout."""
    if "web-1" not in hosts or "app-1" not in hosts or "db-1" not in hosts:
        return 0, 0
    sw = hosts["web-1"][0].defaultIntf().link.intf2.node
    kind = "host data plane" if isinstance(sw, SWXHost) else "switch"
    serve_tcp(hosts, "app-1", 8080)
    serve_tcp(hosts, "db-1", 5432)
    time.sleep(0.2)
    allowed, denied = os.path.join(work, "restart-allowed.log"), os.path.join(work, "restart-denied.log")
    sw.kill()
    time.sleep(1)
    start = time.time()
    sw.start([])
    pa = probe(hosts["web-1"][0], addr(hosts, "app-1"), 8080, allowed)
    pd = probe(hosts["web-1"][0], addr(hosts, "db-1"), 5432, denied)
    restored = None
    while time.time() < start + 60:
        rows = samples(allowed)
        oks = [t for t, ok in rows if ok]
        if oks:
            restored = oks[0] - start
            break
        time.sleep(0.2)
    cluster.wait_in_sync(60)
    sync = time.time() - start
    time.sleep(1)
    for p in (pa, pd):
        p.terminate()
    for h in ("app-1", "db-1"):
        hosts[h][0].cmd("kill %nc")
    leaked = [t for t, ok in samples(denied) if ok]
    if restored is None or leaked:
        print("FAIL  %s %s restarted: enforcement restored %s, denied probes let through %d" %
              (kind, sw.name, "never" if restored is None else "%.2fs after" % restored, len(leaked)))
        return 0, 1
    print("PASS  %s %s killed and restarted: first allowed connection %.2fs after the restart, reported in sync %.2fs after it; "
          "%d denied probes, none through" % (kind, sw.name, restored, sync, len(samples(denied))))
    return 1, 0


LEADER_CHANGE = """kind: Policy
name: web-to-db-after-failover
segment: prod
from: "tier: web"
to: {tier: db}
rules:
  - {proto: tcp, ports: [9188]}
"""


def leader_kill(cluster, hosts, work):
    """The leader is killed under continuous traffic: no denied probe gets
    through, allowed probes keep flowing (the longest gap is the figure),
    and a change applied through a survivor right after is enforced."""
    if "web-1" not in hosts or "app-1" not in hosts or "db-1" not in hosts:
        return 0, 0
    serve_tcp(hosts, "app-1", 8080)
    serve_tcp(hosts, "db-1", 5432)
    serve_tcp(hosts, "db-1", 9188)
    time.sleep(0.2)
    allowed, denied = os.path.join(work, "failover-allowed.log"), os.path.join(work, "failover-denied.log")
    web = hosts["web-1"][0]
    pa = probe(web, addr(hosts, "app-1"), 8080, allowed)
    pd = probe(web, addr(hosts, "db-1"), 5432, denied)
    time.sleep(2)
    old = cluster.leader()
    failed = 0
    if old is None:
        print("FAIL  no node reports a leader before the kill")
        return 0, 1
    killed = time.time()
    cluster.kill(old)
    new, elected = None, None
    while time.time() < killed + 30:
        new = cluster.leader()
        if new is not None and new != old:
            elected = time.time() - killed
            break
        time.sleep(0.1)
    if elected is None:
        print("FAIL  no new leader within 30s of killing node %d" % (old + 1))
        failed = 1
    time.sleep(2)
    path = os.path.join(work, "after-failover.yaml")
    with open(path, "w") as f:
        f.write(LEADER_CHANGE)
    applied = time.time()
    cluster.run("apply", "-f", path, "--wait=false")
    opened = None
    while time.time() < applied + 20:
        if web.cmd("nc -z -w 1 %s 9188 && echo OPEN" % addr(hosts, "db-1")).strip().endswith("OPEN"):
            opened = time.time() - applied
            break
        time.sleep(0.05)
    end = time.time()
    for p in (pa, pd):
        p.terminate()
    for h in ("app-1", "db-1"):
        hosts[h][0].cmd("kill %nc")
    rows = samples(allowed)
    gap = longest_gap(rows, killed - 1, end)
    leaked = [t for t, ok in samples(denied) if ok]
    if leaked or gap is None or opened is None:
        print("FAIL  leader (node %d) killed: %d denied probes through, longest allowed gap %s, change after failover %s" %
              (old + 1, len(leaked), "-" if gap is None else "%.2fs" % gap, "not enforced" if opened is None else "enforced"))
        return 0, 1
    print("PASS  leader (node %d) killed under traffic: new leader node %d after %.2fs; longest gap in allowed traffic %.2fs "
          "(%d probes), %d denied probes, none through; a change applied after the failover opened %.2fs later" %
          (old + 1, new + 1, elected, gap, len(rows), len(samples(denied)), opened))
    return 1 - failed, failed


def scale_apply(cluster, work, device, entries=100000):
    """entries policy entries written into one BMv2 switch through p4ctl
    apply: the web tier to the db tier on entries/2 single TCP ports
    (each port an entry and its reply's), in policies of 1,000 ports."""
    per = 1000
    path = os.path.join(work, "scale.yaml")
    with open(path, "w") as f:
        for i in range(entries // 2 // per):
            ports = ", ".join(str(10000 + i * per + j) for j in range(per))
            f.write('---\nkind: Policy\nname: scale-%03d\nsegment: prod\nfrom: "tier: web"\nto: {tier: db}\n'
                    'rules:\n  - {proto: tcp, ports: [%s]}\n' % (i, ports))
    total = lambda d: sum(d.get("entries", {}).values())
    before = total({d["name"]: d for d in cluster.devices()}[device])
    start = time.time()
    cluster.run("apply", "-f", path, "--wait=false", "--timeout", "10m")
    committed = time.time() - start
    while time.time() < start + 600:
        d = {d["name"]: d for d in cluster.devices()}.get(device, {})
        if d.get("in_sync") and total(d) >= before + entries:
            took = time.time() - start
            print("PASS  %d entries applied to %s through p4ctl apply: committed in %.1fs, on the switch after %.1fs: %.0f entries/s" %
                  (total(d) - before, device, committed, took, (total(d) - before) / took))
            return 1, 0
        time.sleep(0.5)
    print("FAIL  %d entries not on %s within 600s: %s" % (entries, device, cluster.devices()))
    return 0, 1


def host_move(cluster, hosts, work, spare):
    """The MOVER endpoint, placed by host name, moves to the spare port (of
    its own switch, or of another leaf in the fabric): its LLDP is heard
    there by that switch's port agent, p4ctl places it on the new port,
    and its policy follows. The figure is the time from the move to the
    first allowed connection from the new port."""
    if MOVER not in hosts or "app-1" not in hosts or spare is None:
        return 0, 0
    h, e = hosts[MOVER]
    doc = {"kind": "Endpoint", "name": e["name"], "segment": e["segment"], "mac": e["mac"], "ips": e["ips"],
           "host": MOVER, "labels": e.get("labels", {})}
    path = os.path.join(work, "mover.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)

    def seen_on():
        out = cluster.run("get", "endpoints", e["name"], "-o", "json", check=False)
        if out.returncode != 0:
            return None
        eps = json.loads(out.stdout)
        ep = eps[0] if isinstance(eps, list) and eps else eps
        return (ep.get("device"), ep.get("port")) if isinstance(ep, dict) else None

    # Wait until the switch hears the host on its first port, then place
    # the endpoint by host name instead of by port.
    start = time.time()
    while time.time() < start + 30:
        out = cluster.run("get", "hosts", "-o", "json", check=False)
        if out.returncode == 0 and MOVER in out.stdout:
            break
        time.sleep(0.3)
    else:
        print("FAIL  host %s is not seen by any device within 30s: %s" % (MOVER, cluster.run("get", "hosts", check=False).stdout))
        return 0, 1
    cluster.run("apply", "-f", path, "--wait")
    if seen_on() != (e["device"], e["port"]) or not flow(hosts, MOVER, "app-1", 8080)[0]:
        print("FAIL  %s placed by host name: port %s, web-to-app %s" % (MOVER, seen_on(), flow(hosts, MOVER, "app-1", 8080)[0]))
        return 0, 1
    old, new = h.intfList()[0].name, h.intfList()[1].name
    serve_tcp(hosts, "app-1", 8080)
    time.sleep(0.2)
    moved = time.time()
    h.cmd("ip link set %s down; ip addr flush dev %s" % (old, old))
    h.cmd("ip link set %s address %s" % (new, e["mac"]))
    h.cmd("ethtool -K %s rx off tx off sg off >/dev/null 2>&1" % new)
    for ip in e["ips"]:
        h.cmd("ip %s addr add %s/%d dev %s%s" % ("-6" if ":" in ip else "", ip, 32 if ":" in ip else 16, new, " nodad" if ":" in ip else ""))
    h.cmd("ip link set %s up" % new)
    opened = None
    while time.time() < moved + 60:
        if h.cmd("nc -z -w 1 %s 8080 && echo OPEN" % addr(hosts, "app-1")).strip().endswith("OPEN"):
            opened = time.time() - moved
            break
        time.sleep(0.1)
    hosts["app-1"][0].cmd("kill %nc")
    port = seen_on()
    denied = flow(hosts, MOVER, "db-1", 5432)[0] if "db-1" in hosts else False
    isolated = flow(hosts, "web-1", MOVER, 8080)[0] if "web-1" in hosts else False
    if opened is None or port != spare or denied or isolated:
        print("FAIL  %s moved to %s/%d: now on %s, web-to-app %s, db %s, from web-1 %s" %
              (MOVER, spare[0], spare[1], port, "never opened" if opened is None else "open", "open" if denied else "refused",
               "open" if isolated else "refused"))
        return 0, 1
    print("PASS  %s moved from %s/%d to %s/%d: placed there by LLDP, first allowed connection %.2fs after the move; "
          "still denied the db, still isolated from web-1" % (MOVER, e["device"], e["port"], spare[0], spare[1], opened))
    return 1, 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topo", default="single", choices=sorted(TOPOLOGIES),
                    help="single: one switch; fabric: 2 leaves x 2 spines; host: a hypervisor on p4ctl-swx and a leaf (docs/lab.md)")
    ap.add_argument("--policy", default=None, help="the policy file (default: the topology's)")
    ap.add_argument("--p4ctl", default="bin/p4ctl")
    ap.add_argument("--swx", default="bin/p4ctl-swx", help="p4ctl-swx (make swx), for the policy's dpdk devices")
    ap.add_argument("--check", action="store_true", help="run the policy checks and exit instead of the CLI")
    ap.add_argument("--test", action="store_true", help="the checks, then a switch restart, a leader kill and 100,000 entries")
    a = ap.parse_args()
    missing = [t for t in ("simple_switch_grpc", "nc", "ethtool") if not shutil.which(t)]
    if os.geteuid() != 0:
        sys.exit("lab: needs root (Mininet)")
    if missing:
        sys.exit("lab: %s not found: build BMv2's simple_switch_grpc with PI (docs/lab.md); apt-get install mininet netcat-openbsd ethtool python3-yaml" % ", ".join(missing))
    setLogLevel("warning")
    work = tempfile.mkdtemp(prefix="p4ctl-lab-")
    topo = TOPOLOGIES[a.topo]
    docs = load(a.policy or topo["policy"])
    swx = os.path.abspath(a.swx)
    if any(d.get("kind") == "Device" and d.get("target") == "dpdk" for d in docs) and not os.access(swx, os.X_OK):
        sys.exit("lab: %s not found: the policy has dpdk devices, which the lab runs on p4ctl-swx (make swx; DPDK 22.11, docs/targets.md)" % a.swx)
    net, hosts, spare = build(docs, work, topo["cables"], topo["move_to"], swx)
    policy_file = os.path.join(work, "policy.yaml")
    with open(policy_file, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    net.build()
    net.start()
    fabric_mtu(net)
    configure(hosts)
    hvs = [sw for sw in net.switches if isinstance(sw, SWXHost)]
    if hvs:
        static_neighbours(hosts)
    cluster = None
    p4ctl = os.path.abspath(a.p4ctl)
    agents = start_agents(net, p4ctl, work)
    if MOVER in hosts:
        agents.append(start_host_speaker(hosts[MOVER][0], MOVER, p4ctl, work))
    try:
        cluster = Cluster(p4ctl, policy_file, work)
        # A host data plane compiles its pipeline's C on the first push
        # (then kept by the spec's hash in /var/tmp/p4ctl-swx).
        took = cluster.wait_in_sync(180 if hvs else 60)
        n = len(net.switches) - len(hvs)
        what = "%d switch%s" % (n, "" if n == 1 else "es")
        if hvs:
            what += ", %d host data plane%s (p4ctl-swx)" % (len(hvs), "" if len(hvs) == 1 else "s")
        print("lab: %s: %s, %d hosts, 3 p4ctl nodes; every device in sync %.1fs after the third node started (logs in %s)" %
              (a.topo, what, len(hosts), took, work))
        if topo["cables"]:
            learned = cluster.wait_links(2 * len(topo["cables"]), 60)
            took = cluster.wait_in_sync(60)
            print("lab: every node knows the %d cables (both directions) %.1fs later; devices in sync again %.1fs after that" %
                  (len(topo["cables"]), learned, took))
        if a.check or a.test:
            passed, failed = check(hosts)
            steps = [lambda: live_change(cluster, hosts, work)]
            if a.test:
                device = [d["name"] for d in docs if d.get("kind") == "Device"][0]
                scenarios = {"host_move": lambda: host_move(cluster, hosts, work, spare),
                             "switch_restart": lambda: switch_restart(net, cluster, hosts, work),
                             "leader_kill": lambda: leader_kill(cluster, hosts, work),
                             "scale_apply": lambda: scale_apply(cluster, work, device)}
                steps += [scenarios[t] for t in topo["tests"]]
            for step in steps:
                p2, f2 = step()
                passed, failed = passed + p2, failed + f2
            print("%d passed, %d failed" % (passed, failed))
            return 1 if failed else 0
        CLI(net)
        return 0
    finally:
        if cluster:
            cluster.stop()
        for p in agents:
            p.terminate()
        net.stop()


if __name__ == "__main__":
    sys.exit(main())
