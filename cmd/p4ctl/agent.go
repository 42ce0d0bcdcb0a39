package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/p4ctl/p4ctl/pkg/gnmi/agent"
	"github.com/p4ctl/p4ctl/pkg/lldp"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

func newAgentCmd() *cobra.Command {
	var (
		listen, interfaces, portMap, target, logLevel string
		lldpSource, lldpdSocket                       string
		withLLDP                                      bool
		lldpInterval, counters                        time.Duration
		tlsFiles                                      tlsconf.Files
	)
	cmd := &cobra.Command{
		Use:   "agent --listen ADDR [--interfaces REGEX] [--lldp [--lldp-source auto|speaker|lldpd]] [--port-map FILE]",
		Short: "Serve this host's interfaces and LLDP neighbors over gNMI (OpenConfig)",
		Example: `  p4ctl agent --listen 127.0.0.1:9339
  p4ctl agent --listen :9339 --lldp --tls-cert agent.pem --tls-key agent-key.pem --tls-client-ca ca.pem
  p4ctl agent --listen 127.0.0.1:9339 --port-map ports.yaml`,
		Long: `agent is a gNMI server for a Linux host or a BMv2 switch's ports: OpenConfig
interfaces (state, counters, MAC, bond members, VLAN subinterfaces) read from
netlink, with ON_CHANGE updates driven by netlink's link events, and with
--lldp OpenConfig LLDP for those interfaces. The neighbors come from lldpd
where it runs (read with lldpcli, so the host is not announced twice) and
otherwise from the agent's own LLDP speaker, which follows interfaces as they
appear and vanish; --lldp-source picks one explicitly.
--port-map FILE maps P4Runtime port numbers to interfaces ("1: veth1" per
line, as BMv2's -i 1@veth1): the agent then serves only those interfaces and
their /interfaces/interface/state/id. Set is refused; Get and Subscribe
(ONCE, POLL, STREAM with ON_CHANGE and SAMPLE) answer in JSON_IETF, JSON or
PROTO.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg := agent.Config{Target: target, Source: agent.NetlinkSource{}, CounterInterval: counters, Logger: log}
			if interfaces != "" {
				re, err := regexp.Compile(interfaces)
				if err != nil {
					return fmt.Errorf("--interfaces: %w", err)
				}
				cfg.Interfaces = re
			}
			if portMap != "" {
				b, err := os.ReadFile(portMap)
				if err != nil {
					return fmt.Errorf("--port-map: %w", err)
				}
				if cfg.Ports, err = agent.ParsePortMap(b); err != nil {
					return fmt.Errorf("--port-map %s: %w", portMap, err)
				}
			}
			var opts []grpc.ServerOption
			if tlsFiles.Enabled() {
				tc, err := tlsFiles.Server()
				if err != nil {
					return fmt.Errorf("--tls-*: %w", err)
				}
				opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 3)
			if withLLDP {
				sel := cfg.Interfaces
				if cfg.Ports != nil {
					var names []string
					for n := range cfg.Ports {
						names = append(names, regexp.QuoteMeta(n))
					}
					slices.Sort(names)
					sel = regexp.MustCompile("^(" + strings.Join(names, "|") + ")$")
				}
				var l lldp.Frame
				switch lldpSource {
				case "auto", "lldpd":
					rd, err := lldp.NewLLDPD(ctx, lldp.LLDPDConfig{Socket: lldpdSocket, Interfaces: sel, Logger: log})
					if err != nil {
						if lldpSource == "lldpd" {
							return fmt.Errorf("--lldp-source lldpd: %w", err)
						}
						log.Info("lldp: lldpd not available, running our own speaker", "reason", err)
						break
					}
					l, cfg.Neighbors = rd.Local(), rd.Table()
					go func() { errc <- rd.Run(ctx) }()
					log.Info("lldp: reading lldpd's neighbors", "socket", lldpdSocket, "system", l.SystemName)
				case "speaker":
				default:
					return fmt.Errorf("--lldp-source %q: want auto, speaker or lldpd", lldpSource)
				}
				if cfg.Neighbors == nil {
					sp, err := lldp.NewSpeaker(lldp.Config{Interfaces: sel, TxInterval: lldpInterval, Logger: log})
					if err != nil {
						return fmt.Errorf("--lldp: %w", err)
					}
					l, cfg.Neighbors = sp.Local(), sp.Table()
					go func() { errc <- sp.Run(ctx) }()
					if ifs := sp.Interfaces(); len(ifs) > 0 {
						log.Info("lldp speaking", "interfaces", ifs, "system", l.SystemName)
					} else {
						log.Warn("lldp: no interface selected yet; speaking on each as it appears", "system", l.SystemName)
					}
				}
				cfg.Local = &agent.LocalSystem{ChassisID: l.ChassisString(), ChassisIDType: l.ChassisIDSubtype, SystemName: l.SystemName,
					SystemDescription: l.SystemDescription}
			}
			a, err := agent.New(cfg)
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			go func() { errc <- a.Run(ctx) }()
			go func() { errc <- a.Serve(ctx, lis, opts...) }()
			log.Info("gnmi agent serving", "addr", lis.Addr(), "target", cfg.Target)
			select {
			case <-ctx.Done():
				return nil
			case err := <-errc:
				if err == nil && ctx.Err() != nil {
					return nil
				}
				if err == nil {
					err = errors.New("stopped")
				}
				return fmt.Errorf("agent: %w", err)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9339", "gNMI address to serve")
	f.StringVar(&interfaces, "interfaces", "", "serve only interfaces whose name matches this regular expression")
	f.StringVar(&portMap, "port-map", "", "YAML file of P4 port: interface (a BMv2 switch's ports); serves only those")
	f.BoolVar(&withLLDP, "lldp", false, "serve the LLDP neighbors of the served interfaces (from lldpd or our own speaker)")
	f.StringVar(&lldpSource, "lldp-source", "auto", "auto (lldpd where it answers, else our speaker), speaker or lldpd")
	f.StringVar(&lldpdSocket, "lldpd-socket", "", "lldpd's control socket (default: lldpcli's)")
	f.DurationVar(&lldpInterval, "lldp-interval", 30*time.Second, "LLDP transmit interval (TTL is four times it)")
	f.DurationVar(&counters, "counter-interval", time.Second, "how often counters are read")
	host, _ := os.Hostname()
	f.StringVar(&target, "target", host, "the gNMI target name this agent answers to")
	f.StringVar(&tlsFiles.Cert, "tls-cert", "", "certificate (PEM) to serve gNMI over TLS")
	f.StringVar(&tlsFiles.Key, "tls-key", "", "key (PEM) of --tls-cert")
	f.StringVar(&tlsFiles.CA, "tls-client-ca", "", "CA bundle (PEM): clients must present a certificate it verifies (mutual TLS)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
