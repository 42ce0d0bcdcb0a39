#!/usr/bin/env python3
"""The p4ctl lab: BMv2 switches in Mininet, programmed by a p4ctl cluster.

The topology comes from a policy file: every Device is a BMv2
simple_switch_grpc switch, every Endpoint placed on a device port is a
Mininet host with the endpoint's MAC and addresses on that port. A three
node p4ctl cluster runs on loopback and applies the file (its devices'
addresses rewritten to the lab's switches). Then the Mininet CLI, or with
--check a few flows whose verdicts the policy decides, each timed.

Run as root from the repository: make lab [POLICY=file], or make lab-check.
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
CPU_PORT = 510


class BMv2Switch(Switch):
    """A BMv2 simple_switch_grpc switch with P4Runtime and no program until
    the controller pushes one. Port numbers are Mininet's interface
    numbers (addLink port2=N), the CPU port is CPU_PORT, thrift is off."""

    def __init__(self, name, grpc_port, device_id=1, log_dir="/tmp", **kw):
        kw.setdefault("inNamespace", False)
        Switch.__init__(self, name, **kw)
        self.grpc_port, self.device_id, self.log_dir = grpc_port, device_id, log_dir
        self.proc = None

    def start(self, controllers):
        args = ["simple_switch_grpc", "--device-id", str(self.device_id), "--no-p4"]
        for port, intf in sorted(self.intfs.items()):
            if port == 0 or intf.name == "lo":
                continue
            args += ["-i", "%d@%s" % (port, intf.name)]
        args += ["--", "--grpc-server-addr", "127.0.0.1:%d" % self.grpc_port, "--cpu-port", str(CPU_PORT)]
        log = open(os.path.join(self.log_dir, "%s.log" % self.name), "w")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.grpc_port, 20, "%s's P4Runtime server" % self.name)

    def stop(self, deleteIntfs=True):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None
        Switch.stop(self, deleteIntfs)


def wait_port(port, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit("lab: %s did not listen on 127.0.0.1:%d within %ds" % (what, port, seconds))


def load(policy):
    with open(policy) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return docs


def build(docs, log_dir):
    """The Mininet network of the policy's devices and placed endpoints,
    and the policy with the devices' addresses rewritten."""
    net = Mininet(topo=None, build=False, controller=None, autoSetMacs=False)
    switches = {}
    for i, d in enumerate(x for x in docs if x.get("kind") == "Device"):
        port = GRPC_BASE + i
        switches[d["name"]] = net.addSwitch("s%d" % (i + 1), cls=BMv2Switch, grpc_port=port,
                                            device_id=d.get("device_id", 1), log_dir=log_dir)
        d["address"] = "127.0.0.1:%d" % port
    hosts = {}
    for e in (x for x in docs if x.get("kind") == "Endpoint"):
        if "device" not in e:
            continue  # placed by host name: not in the single-switch lab
        name = e["name"][:10]
        h = net.addHost(name, cls=Host, mac=e["mac"], ip=None)
        net.addLink(h, switches[e["device"]], port2=e["port"])
        hosts[e["name"]] = (h, e)
    return net, hosts


def configure(hosts):
    for h, e in hosts.values():
        intf = h.defaultIntf()
        # veth leaves TCP/UDP checksums to the "hardware" (offload); BMv2
        # forwards the frame as it read it, so the receiver would see a bad
        # checksum and drop it. Checksums are computed by the sender.
        h.cmd("ethtool -K %s rx off tx off sg off >/dev/null 2>&1" % intf)
        h.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.%s.accept_ra=0" % intf)
        for ip in e.get("ips", []):
            if ":" in ip:
                h.cmd("ip -6 addr add %s/64 dev %s nodad" % (ip, intf))
            else:
                h.cmd("ip addr add %s/16 dev %s" % (ip, intf))


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
            wait_port(base, 20, "p4ctl node %d's API" % (n + 1))
            time.sleep(1 if n == 0 else 0.2)

    def devices(self):
        out = subprocess.run([self.p4ctl, "get", "devices", "-o", "json", "--server", "127.0.0.1:9700"],
                             capture_output=True, text=True)
        return json.loads(out.stdout) if out.returncode == 0 else []

    def wait_in_sync(self, seconds):
        start = time.time()
        while time.time() < start + seconds:
            devs = self.devices()
            if devs and all(d["in_sync"] for d in devs):
                return time.time() - start
            time.sleep(0.2)
        sys.exit("lab: devices not in sync within %ds: %s" % (seconds, self.devices()))

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()


def flow(hosts, src, dst, port, v6=False):
    """Whether a TCP connection from src to dst's port opens, and how long
    the answer took."""
    s, _ = hosts[src]
    d, de = hosts[dst]
    ip = [a for a in de["ips"] if (":" in a) == v6][0]
    d.cmd("nc -l%s -k %d >/dev/null 2>&1 &" % ("6" if v6 else "", port))
    time.sleep(0.2)
    start = time.time()
    ok = s.cmd("nc -z -w 1 %s %d && echo OPEN" % (ip, port)).strip().endswith("OPEN")
    d.cmd("kill %nc")
    return ok, time.time() - start


def check(hosts):
    """The policy as written, both ways: each case prints its verdict and
    time; the run fails on the first wrong one."""
    cases = [
        ("web-1", "app-1", 8080, False, True, "web-to-app allows tcp/8080"),
        ("web-1", "app-1", 8443, True, True, "web-to-app allows tcp/8443 over IPv6"),
        ("web-1", "app-1", 22, False, False, "tcp/22 is not in any policy: default deny"),
        ("app-1", "db-1", 5432, False, True, "app-to-db allows tcp/5432"),
        ("web-1", "db-1", 5432, False, False, "web does not reach the database"),
        ("web-1", "web-2", 8080, False, False, "isolated ports never reach each other"),
        ("app-1", "web-1", 8080, False, False, "app cannot open a connection back to web"),
    ]
    passed = failed = 0
    for src, dst, port, v6, want, what in cases:
        if src not in hosts or dst not in hosts:
            continue
        ok, took = flow(hosts, src, dst, port, v6)
        verdict = "PASS" if ok == want else "FAIL"
        failed += verdict == "FAIL"
        passed += verdict == "PASS"
        print("%s  %-6s -> %-6s tcp/%-5d %s: %s (%.2fs)" % (verdict, src, dst, port, "v6" if v6 else "v4",
                                                        "open" if ok else "refused", took) + "  " + what)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default="examples/segmentation.yaml")
    ap.add_argument("--p4ctl", default="bin/p4ctl")
    ap.add_argument("--check", action="store_true", help="run the policy checks and exit instead of the CLI")
    a = ap.parse_args()
    missing = [t for t in ("simple_switch_grpc", "nc", "ethtool") if not shutil.which(t)]
    if os.geteuid() != 0:
        sys.exit("lab: needs root (Mininet)")
    if missing:
        sys.exit("lab: %s not found: build BMv2's simple_switch_grpc with PI (docs/lab.md); apt-get install mininet netcat-openbsd ethtool python3-yaml" % ", ".join(missing))
    setLogLevel("warning")
    work = tempfile.mkdtemp(prefix="p4ctl-lab-")
    docs = load(a.policy)
    net, hosts = build(docs, work)
    policy_file = os.path.join(work, "policy.yaml")
    with open(policy_file, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    net.build()
    net.start()
    configure(hosts)
    cluster = None
    try:
        cluster = Cluster(os.path.abspath(a.p4ctl), policy_file, work)
        took = cluster.wait_in_sync(60)
        print("lab: %d switches, %d hosts, 3 p4ctl nodes; every device in sync %.1fs after the third node started (logs in %s)" %
              (len(net.switches), len(hosts), took, work))
        if a.check:
            passed, failed = check(hosts)
            p2, f2 = live_change(cluster, hosts, work)
            passed, failed = passed + p2, failed + f2
            print("%d passed, %d failed" % (passed, failed))
            return 1 if failed else 0
        CLI(net)
        return 0
    finally:
        if cluster:
            cluster.stop()
        net.stop()


if __name__ == "__main__":
    sys.exit(main())
