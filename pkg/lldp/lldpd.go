package lldp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// LLDPDConfig configures an LLDPD reader.
type LLDPDConfig struct {
	// Socket is lldpd's control socket ("": lldpcli's default,
	// /run/lldpd.socket on Debian).
	Socket string
	// Interfaces keeps the neighbors on matching interfaces only (nil:
	// all).
	Interfaces *regexp.Regexp
	// Resync is how often the whole neighbor list is read again even if
	// lldpd reported no change (default 30s).
	Resync time.Duration
	// MaxNeighbors bounds neighbors per interface (DefaultMaxPerInterface).
	MaxNeighbors int
	Logger       *slog.Logger
}

// LLDPD mirrors the neighbors of a running lldpd into a Table, for hosts
// where lldpd already speaks LLDP and a second speaker would announce the
// host twice. It reads them with lldpcli (JSON, the "json0" form whose
// shape does not depend on the number of values): at start, whenever
// `lldpcli watch` reports a change, and every Resync.
type LLDPD struct {
	cfg   LLDPDConfig
	log   *slog.Logger
	table *Table
	local Frame
}

// NewLLDPD checks that lldpd answers on the socket and reads the local
// chassis from it.
func NewLLDPD(ctx context.Context, cfg LLDPDConfig) (*LLDPD, error) {
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	l := &LLDPD{cfg: cfg, log: cfg.Logger, table: NewTable(cfg.MaxNeighbors)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if _, err := exec.LookPath("lldpcli"); err != nil {
		return nil, fmt.Errorf("lldpd: lldpcli is not on PATH: %w", err)
	}
	out, err := l.lldpcli(ctx, "show", "chassis")
	if err != nil {
		return nil, err
	}
	if l.local, err = parseLocalChassis(out); err != nil {
		return nil, fmt.Errorf("lldpd at %s: %w", l.socketName(), err)
	}
	return l, nil
}

func (l *LLDPD) socketName() string {
	if l.cfg.Socket == "" {
		return "lldpcli's default socket"
	}
	return l.cfg.Socket
}

func (l *LLDPD) args(args ...string) []string {
	a := []string{"-f", "json0"}
	if l.cfg.Socket != "" {
		a = append(a, "-u", l.cfg.Socket)
	}
	return append(a, args...)
}

// lldpcli runs one lldpcli command and returns its output, or an error
// carrying what lldpcli printed on failure.
func (l *LLDPD) lldpcli(ctx context.Context, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "lldpcli", l.args(args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		return nil, fmt.Errorf("lldpd at %s: lldpcli %s: %v: %s", l.socketName(), strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// Table is the neighbors lldpd knows.
func (l *LLDPD) Table() *Table { return l.table }

// Local is what lldpd announces for this system (port fields aside).
func (l *LLDPD) Local() Frame { return l.local }

// Sync reads lldpd's neighbors once into the table.
func (l *LLDPD) Sync(ctx context.Context) error {
	out, err := l.lldpcli(ctx, "show", "neighbors", "details")
	if err != nil {
		return err
	}
	now := time.Now()
	ns, err := parseNeighbors(out, now)
	if err != nil {
		return fmt.Errorf("lldpd at %s: %w", l.socketName(), err)
	}
	if re := l.cfg.Interfaces; re != nil {
		kept := ns[:0]
		for _, n := range ns {
			if re.MatchString(n.LocalInterface) {
				kept = append(kept, n)
			}
		}
		ns = kept
	}
	// lldpd ages its neighbors out and says so through watch; the mirror
	// expires them itself only if lldpd stops answering, after the longer
	// of their TTL and two resyncs, so that a TTL shorter than the resync
	// does not make them flap.
	for i := range ns {
		ns[i].ExpiresAt = now.Add(max(ns[i].TTL, 2*l.cfg.Resync))
	}
	l.table.Replace(ns)
	return nil
}

// Run keeps the table equal to lldpd's neighbors until ctx ends. A failed
// read or a watch that ends (lldpd restarted) is logged and retried; the
// table keeps what it had, aged by TTL, meanwhile.
func (l *LLDPD) Run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	go l.watch(ctx, changed)
	if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
		l.log.Warn("lldpd: read neighbors", "err", err)
	}
	resync := time.NewTicker(l.cfg.Resync)
	defer resync.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	for {
		expiry.Reset(l.table.untilExpiry())
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-resync.C:
		case <-expiry.C:
			l.table.Expire(time.Now())
			continue
		case <-l.table.owner:
			continue
		}
		if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("lldpd: read neighbors", "err", err)
		}
	}
}

// watch runs `lldpcli watch` and signals changed for every event it
// prints, restarting it (after a pause) when it ends.
func (l *LLDPD) watch(ctx context.Context, changed chan<- struct{}) {
	for ctx.Err() == nil {
		cmd := exec.CommandContext(ctx, "lldpcli", l.args("watch")...)
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err == nil {
			dec := json.NewDecoder(out)
			for {
				var ev map[string]json.RawMessage
				if err = dec.Decode(&ev); err != nil {
					break
				}
				select {
				case changed <- struct{}{}:
				default:
				}
			}
			_ = cmd.Wait()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, io.EOF) {
			l.log.Warn("lldpd: watch", "err", err)
		}
		// lldpd may be restarting: read everything when it is back.
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		select {
		case changed <- struct{}{}:
		default:
		}
	}
}

// The json0 form: every value is a list, every leaf an object with
// "value" (and for IDs "type").
type (
	j0Value struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	j0Chassis struct {
		ID     []j0Value `json:"id"`
		Name   []j0Value `json:"name"`
		Descr  []j0Value `json:"descr"`
		MgmtIP []j0Value `json:"mgmt-ip"`
		TTL    []j0Value `json:"ttl"`
	}
	j0Port struct {
		ID    []j0Value `json:"id"`
		Descr []j0Value `json:"descr"`
		TTL   []j0Value `json:"ttl"`
	}
	j0Interface struct {
		Name    string      `json:"name"`
		Age     string      `json:"age"`
		Chassis []j0Chassis `json:"chassis"`
		Port    []j0Port    `json:"port"`
	}
)

func first(vs []j0Value) j0Value {
	if len(vs) == 0 {
		return j0Value{}
	}
	return vs[0]
}

// parseNeighbors decodes `lldpcli -f json0 show neighbors details`.
func parseNeighbors(data []byte, now time.Time) ([]Neighbor, error) {
	var doc struct {
		LLDP []struct {
			Interface []j0Interface `json:"interface"`
		} `json:"lldp"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("lldpcli neighbors: %w", err)
	}
	var out []Neighbor
	for _, l := range doc.LLDP {
		for _, ifc := range l.Interface {
			n, err := neighborOf(ifc, now)
			if err != nil {
				return nil, fmt.Errorf("lldpcli neighbor on %q: %w", ifc.Name, err)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

func neighborOf(ifc j0Interface, now time.Time) (Neighbor, error) {
	if ifc.Name == "" || len(ifc.Chassis) == 0 || len(ifc.Port) == 0 {
		return Neighbor{}, errors.New("no interface name, chassis or port")
	}
	ch, p := ifc.Chassis[0], ifc.Port[0]
	var f Frame
	var err error
	if f.ChassisIDSubtype, f.ChassisID, err = idOf(first(ch.ID), true); err != nil {
		return Neighbor{}, fmt.Errorf("chassis ID: %w", err)
	}
	if f.PortIDSubtype, f.PortID, err = idOf(first(p.ID), false); err != nil {
		return Neighbor{}, fmt.Errorf("port ID: %w", err)
	}
	f.SystemName, f.SystemDescription, f.PortDescription = first(ch.Name).Value, first(ch.Descr).Value, first(p.Descr).Value
	for _, m := range ch.MgmtIP {
		if a, err := netip.ParseAddr(m.Value); err == nil {
			f.ManagementAddresses = append(f.ManagementAddresses, a)
		}
	}
	// lldpd 1.0.16 puts the TTL under the port, later versions under the
	// chassis.
	ttlText := first(p.TTL).Value
	if ttlText == "" {
		ttlText = first(ch.TTL).Value
	}
	ttl, err := strconv.ParseUint(ttlText, 10, 16)
	if err != nil {
		return Neighbor{}, fmt.Errorf("TTL %q: %w", ttlText, err)
	}
	f.TTL = time.Duration(ttl) * time.Second
	// The same limits as a frame off the wire: lldpd reports an empty
	// ifname or alias as readily as a real one.
	if err := f.check(); err != nil {
		return Neighbor{}, err
	}
	// lldpd's age is the time since the neighbor's information last
	// changed, not since its last LLDPDU.
	age, err := parseAge(ifc.Age)
	if err != nil {
		return Neighbor{}, err
	}
	return Neighbor{LocalInterface: ifc.Name, Frame: f, LastUpdate: now.Add(-age), ExpiresAt: now.Add(f.TTL)}, nil
}

// idOf turns lldpd's typed ID into an 802.1AB subtype and raw ID.
func idOf(v j0Value, chassis bool) (uint8, string, error) {
	sub := func(c, p uint8) uint8 {
		if chassis {
			return c
		}
		return p
	}
	switch v.Type {
	case "mac":
		mac, err := net.ParseMAC(v.Value)
		if err != nil || len(mac) != 6 {
			return 0, "", fmt.Errorf("MAC %q", v.Value)
		}
		return sub(ChassisMAC, PortMAC), string(mac), nil
	case "ip":
		a, err := netip.ParseAddr(v.Value)
		if err != nil {
			return 0, "", fmt.Errorf("address %q", v.Value)
		}
		family := byte(1) // IANA address family numbers
		if a.Is6() {
			family = 2
		}
		return sub(ChassisNetwork, PortNetwork), string(append([]byte{family}, a.AsSlice()...)), nil
	case "ifname":
		return sub(ChassisIfName, PortIfName), v.Value, nil
	case "ifalias":
		return sub(2, 1), v.Value, nil
	case "local", "unhandled", "":
		if v.Value == "" {
			return 0, "", errors.New("empty")
		}
		return sub(ChassisLocal, PortLocal), v.Value, nil
	}
	return 0, "", fmt.Errorf("unknown ID type %q", v.Type)
}

// parseAge reads lldpd's age, "D day, HH:MM:SS".
func parseAge(s string) (time.Duration, error) {
	var d, h, m, sec int
	if _, err := fmt.Sscanf(s, "%d day, %d:%d:%d", &d, &h, &m, &sec); err != nil || d < 0 || h < 0 || m < 0 || sec < 0 {
		return 0, fmt.Errorf("age %q: not \"D day, HH:MM:SS\"", s)
	}
	return time.Duration(((d*24+h)*60+m)*60+sec) * time.Second, nil
}

// parseLocalChassis decodes `lldpcli -f json0 show chassis`.
func parseLocalChassis(data []byte) (Frame, error) {
	var doc struct {
		Local []struct {
			Chassis []j0Chassis `json:"chassis"`
		} `json:"local-chassis"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return Frame{}, fmt.Errorf("lldpcli chassis: %w", err)
	}
	if len(doc.Local) == 0 || len(doc.Local[0].Chassis) == 0 {
		return Frame{}, errors.New("lldpcli chassis: no local chassis")
	}
	ch := doc.Local[0].Chassis[0]
	var f Frame
	var err error
	if f.ChassisIDSubtype, f.ChassisID, err = idOf(first(ch.ID), true); err != nil {
		return Frame{}, fmt.Errorf("lldpcli chassis ID: %w", err)
	}
	f.SystemName, f.SystemDescription = first(ch.Name).Value, first(ch.Descr).Value
	return f, nil
}
