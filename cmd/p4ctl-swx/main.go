//go:build swx

// Command p4ctl-swx is a P4Runtime server for DPDK's SWX pipeline: it runs
// the pipeline p4ctl pushes (the `dpdk` target's PNA build) on the ports
// it is given and serves P4Runtime for it with p4rtsim's server logic over
// pkg/swx's backend. It needs DPDK 22.11 (Debian 12: dpdk, libdpdk-dev,
// and the dpdk source package for two headers) and builds only with
// `go build -tags swx ./cmd/p4ctl-swx`; docs/targets.md says how to run it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/swx"
	"github.com/p4ctl/p4ctl/pkg/swx/dpdk"
)

type portFlags []dpdk.Port

func (p *portFlags) String() string { return fmt.Sprint(*p) }

// Set takes N=VDEV[,ARGS] (swx.ParsePort).
func (p *portFlags) Set(s string) error {
	port, err := swx.ParsePort(s)
	if err != nil {
		return err
	}
	*p = append(*p, port)
	return nil
}

// filePrefix names this process's EAL runtime directory, removed at exit.
var filePrefix = fmt.Sprintf("p4ctl-swx-%d", os.Getpid())

func main() {
	// The EAL leaves its runtime directory behind.
	defer os.RemoveAll(filepath.Join("/var/run/dpdk", filePrefix))
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		if err := benchMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "p4ctl-swx bench:", err)
			os.RemoveAll(filepath.Join("/var/run/dpdk", filePrefix))
			os.Exit(1)
		}
		return
	}
	if err := serveMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "p4ctl-swx:", err)
		os.RemoveAll(filepath.Join("/var/run/dpdk", filePrefix))
		os.Exit(1)
	}
}

// dpFlags are the data plane's flags, shared by serve and bench.
type dpFlags struct {
	lcores, workDir, dpdkSrc, eal string
	mem                           int
	cpuPort                       uint
}

func (f *dpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.lcores, "lcores", "0,1", "MAIN,WORKER: the lcore of the control thread and of the data-plane thread (which busy-polls it)")
	fs.IntVar(&f.mem, "mem", 1024, "EAL memory in MB (--no-huge): the embedded PNA build's tables (1,048,576 policy_port entries, two copies each for the control API) need about 1 GB; 256 is too little")
	fs.StringVar(&f.eal, "eal", "", "more EAL arguments")
	fs.StringVar(&f.workDir, "work-dir", "/var/tmp/p4ctl-swx", "where generated C and pipeline libraries are kept (by the spec's hash)")
	fs.StringVar(&f.dpdkSrc, "dpdk-src", envOr("RTE_INSTALL_DIR", "/opt/dpdk-src/dpdk-22.11.11"), "DPDK 22.11 source tree (apt-get source dpdk): the pipeline headers the generated C includes")
	fs.UintVar(&f.cpuPort, "cpu-port", 255, "P4 port number of the CPU port (packet-in and packet-out)")
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func (f *dpFlags) open(ports []dpdk.Port) (*dpdk.Dataplane, error) {
	main, worker, ok := strings.Cut(f.lcores, ",")
	w, err := strconv.ParseUint(worker, 10, 32)
	if !ok || err != nil {
		return nil, fmt.Errorf("--lcores %q: want MAIN,WORKER", f.lcores)
	}
	eal := []string{"-l", f.lcores, "--main-lcore", main, "--no-huge", "-m", strconv.Itoa(f.mem), "--no-pci",
		"--file-prefix", filePrefix, "--no-shconf", "--no-telemetry", "--log-level", "*:warning"}
	eal = append(eal, strings.Fields(f.eal)...)
	return dpdk.Open(dpdk.Config{EAL: eal, Worker: uint(w), Ports: ports, CPUPort: uint32(f.cpuPort), WorkDir: f.workDir, DPDKSource: f.dpdkSrc})
}

func serveMain(args []string) error {
	fs := flag.NewFlagSet("p4ctl-swx", flag.ContinueOnError)
	var ports portFlags
	var df dpFlags
	df.register(fs)
	fs.Var(&ports, "port", "N=VDEV[,ARGS]: P4 port N is DPDK virtual device VDEV (repeat; e.g. 1=net_tap0,iface=swx1 or 2=net_af_packet0,iface=veth2); an interface keeps its MTU")
	listen := fs.String("listen", "127.0.0.1:9559", "P4Runtime address (loopback only, unless --insecure-listen)")
	insecureListen := fs.Bool("insecure-listen", false, "allow --listen on a non-loopback address: p4ctl-swx serves P4Runtime without TLS, so anyone who reaches it can program the data plane")
	deviceID := fs.Uint64("device-id", 1, "P4Runtime device id")
	puntRate := fs.Float64("punt-rate", 1000, "packet-ins a second at most (0: no limit)")
	puntBurst := fs.Float64("punt-burst", 200, "packet-ins in a burst at most")
	denialBudget := fs.Int("denial-source-budget", 16, "denial reports a source may cause per epoch of 8.4 s (each flow is reported once per epoch)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: p4ctl-swx --port 1=net_tap0,iface=swx1 [--port ...] [--listen ADDR] [flags]\n       p4ctl-swx bench [--entries N] [--batch B]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !access.Loopback(*listen) && !*insecureListen {
		return fmt.Errorf("--listen %s: p4ctl-swx has no TLS, so it listens on loopback only; give --insecure-listen to listen there anyway", *listen)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	dp, err := df.open(ports)
	if err != nil {
		return err
	}
	defer dp.Close()
	backend := swx.NewBackend(dp, log)
	opts := p4rtsim.Options{DeviceID: *deviceID, Logger: log, NoReconcile: true, Backend: backend}
	opts.OnPacketOut = func(po *p4v1.PacketOut) {
		prog := backend.Program()
		if prog == nil {
			return
		}
		frame, err := swx.PacketOutFrame(prog.Info, po)
		if err == nil {
			err = dp.SendCPU(frame)
		}
		if err != nil {
			log.Warn("packet-out dropped", "err", err)
		}
	}
	srv := p4rtsim.New(opts)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	limit := &swx.Limiter{Rate: *puntRate, Burst: *puntBurst}
	// SIGUSR1: the pipeline's port and table counters on stderr.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			dp.Dump()
		}
	}()
	denials := &swx.DenialLimiter{SourceBudget: *denialBudget}
	go punts(ctx, dp, backend, srv, limit, denials, log)
	fmt.Printf("p4ctl-swx listening on %s (device id %d, ports %v, CPU port %d)\n", lis.Addr(), *deviceID, ports, df.cpuPort)
	err = srv.Serve(ctx, lis)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// punts reads the CPU port's frames and hands them to the primary as
// packet-ins, within the limit.
func punts(ctx context.Context, dp *dpdk.Dataplane, b *swx.Backend, srv *p4rtsim.Server, limit *swx.Limiter, denials *swx.DenialLimiter, log *slog.Logger) {
	const n, stride = 32, 2048
	buf := make([]byte, n*stride)
	lens := make([]uint32, n)
	for ctx.Err() == nil {
		got := dp.RecvCPU(buf, stride, lens)
		if got == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		prog := b.Program()
		now := time.Now()
		for i := 0; i < got; i++ {
			if prog == nil {
				continue
			}
			pi, err := swx.PacketIn(prog.Info, buf[i*stride:i*stride+int(lens[i])])
			if err != nil {
				log.Warn("packet-in dropped", "err", err)
				continue
			}
			if port, pad, ok := swx.PacketInPort(prog.Info, pi); ok && pad&swx.DenialReport != 0 && !denials.Allow(now, port, pi.GetPayload()) {
				continue
			}
			if !limit.Allow(now) {
				continue
			}
			srv.InjectPacketIn(pi)
		}
	}
}
