//go:build swx

package dpdk

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -DALLOW_EXPERIMENTAL_API -O2 -Wno-deprecated-declarations
#cgo LDFLAGS: -lrte_bus_vdev
#include <stdlib.h>
#include "swx.h"
*/
import "C"

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/p4ctl/p4ctl/pkg/swx"
)

// Port is one pipeline port (swx.Port): its P4 port number, the DPDK
// virtual device behind it.
type Port = swx.Port

// Config configures the data plane.
type Config struct {
	// EAL is the EAL's arguments after the program name, e.g. "-l 0,1
	// --no-huge -m 256 --no-pci --file-prefix p4ctl-swx".
	EAL []string
	// Worker is the lcore the data-plane thread runs on.
	Worker uint
	// Ports are the data ports; CPUPort is the CPU port's number (255).
	Ports   []Port
	CPUPort uint32
	// WorkDir holds the generated C, the built libraries (kept by the
	// spec's hash, so a spec is compiled once) and the I/O specs.
	WorkDir string
	// DPDKSource is a DPDK 22.11 source tree (Debian's source package):
	// the generated C includes rte_swx_pipeline_internal.h from
	// lib/pipeline, which libdpdk-dev does not ship.
	DPDKSource string
	// CC is the C compiler ("gcc").
	CC string
}

// InPorts is how many input ports a pipeline has (a power of two, as the
// SWX pipeline wants, covering the CPU port 255); output ports are one
// more, the last the drop port.
const InPorts = 256

// Dataplane is the EAL, the ports and the running pipeline.
type Dataplane struct {
	cfg     Config
	ethdevs map[uint32]string // P4 port -> ethdev name
	portIDs map[uint32]uint16 // P4 port -> ethdev port id
	ports   map[uint32]bool
	cflags  []string
	mu      sync.Mutex
	running *pipe
	builds  int
	cpuMu   sync.Mutex
}

var eal sync.Once

func cerr() (*C.char, C.int) {
	return (*C.char)(C.calloc(1, 512)), 512
}

// Open initialises the EAL (once per process), creates the ports and
// the CPU port's rings. A port that cannot be created is an error naming
// it.
func Open(cfg Config) (*Dataplane, error) {
	if cfg.CC == "" {
		cfg.CC = "gcc"
	}
	if cfg.CPUPort >= InPorts {
		return nil, fmt.Errorf("CPU port %d: ports are 0..%d", cfg.CPUPort, InPorts-1)
	}
	if _, err := os.Stat(filepath.Join(cfg.DPDKSource, "lib/pipeline/rte_swx_pipeline_internal.h")); err != nil {
		return nil, fmt.Errorf("DPDK source tree %q: no lib/pipeline/rte_swx_pipeline_internal.h (apt-get source dpdk; docs/targets.md)", cfg.DPDKSource)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	d := &Dataplane{cfg: cfg, ethdevs: map[uint32]string{}, portIDs: map[uint32]uint16{}, ports: map[uint32]bool{cfg.CPUPort: true}}
	var err error
	if d.cflags, err = compileFlags(cfg.DPDKSource); err != nil {
		return nil, err
	}
	var initErr error
	eal.Do(func() {
		args := append([]string{"p4ctl-swx"}, cfg.EAL...)
		argv := make([]*C.char, len(args)+1)
		for i, a := range args {
			argv[i] = C.CString(a) // kept: the EAL may hold on to them
		}
		e, n := cerr()
		defer C.free(unsafe.Pointer(e))
		if st := C.swx_eal_init(C.int(len(args)), &argv[0], e, n); st != 0 {
			initErr = fmt.Errorf("EAL (%s): %s", strings.Join(cfg.EAL, " "), C.GoString(e))
		}
	})
	if initErr != nil {
		return nil, initErr
	}
	for _, p := range cfg.Ports {
		if p.Num >= InPorts || p.Num == cfg.CPUPort {
			return nil, fmt.Errorf("port %d: data ports are 0..%d except the CPU port %d", p.Num, InPorts-1, cfg.CPUPort)
		}
		if d.ports[p.Num] {
			return nil, fmt.Errorf("port %d given twice", p.Num)
		}
		vd, args := C.CString(p.Vdev), C.CString(p.Args)
		e, n := cerr()
		id := C.swx_port_add(vd, args, e, n)
		msg := C.GoString(e)
		C.free(unsafe.Pointer(vd))
		C.free(unsafe.Pointer(args))
		C.free(unsafe.Pointer(e))
		if id < 0 {
			return nil, fmt.Errorf("port %d: %s", p.Num, msg)
		}
		d.ethdevs[p.Num] = p.Vdev
		d.portIDs[p.Num] = uint16(id)
		d.ports[p.Num] = true
	}
	return d, nil
}

// compileFlags are gcc's flags for the generated C: the DPDK source's
// pipeline headers, then the installed ones.
func compileFlags(src string) ([]string, error) {
	flags := []string{"-I", filepath.Join(src, "lib/pipeline")}
	out, err := exec.Command("pkg-config", "--cflags", "libdpdk").Output()
	if err != nil {
		return nil, fmt.Errorf("pkg-config --cflags libdpdk: %v (apt-get install libdpdk-dev)", err)
	}
	flags = append(flags, strings.Fields(string(out))...)
	return flags, nil
}

// Ports are the P4 port numbers with a device, and the CPU port.
func (d *Dataplane) Ports() map[uint32]bool { return d.ports }

// PortStats are an ethdev's counters.
type PortStats struct{ RxPackets, TxPackets, RxMissed, TxErrors uint64 }

// Stats reads the counters of port num's device.
func (d *Dataplane) Stats(num uint32) (PortStats, error) {
	id, ok := d.portIDs[num]
	if !ok {
		return PortStats{}, fmt.Errorf("no port %d", num)
	}
	var ip, op, im, oe C.uint64_t
	if st := C.swx_port_stats(C.uint16_t(id), &ip, &op, &im, &oe); st != 0 {
		return PortStats{}, fmt.Errorf("port %d: stats: %d", num, st)
	}
	return PortStats{uint64(ip), uint64(op), uint64(im), uint64(oe)}, nil
}

// paths are the files of one spec in the work directory, by its hash.
func (d *Dataplane) paths(spec []byte) (base string) {
	h := sha256.Sum256(spec)
	return filepath.Join(d.cfg.WorkDir, "spec-"+hex.EncodeToString(h[:8]))
}

// Check runs the pipeline's codegen over the spec.
func (d *Dataplane) Check(spec []byte) error {
	base := d.paths(spec)
	if err := os.WriteFile(base+".spec", spec, 0o644); err != nil {
		return err
	}
	in, out := C.CString(base+".spec"), C.CString(base+".c")
	defer C.free(unsafe.Pointer(in))
	defer C.free(unsafe.Pointer(out))
	e, n := cerr()
	defer C.free(unsafe.Pointer(e))
	if st := C.swx_codegen(in, out, e, n); st != 0 {
		return fmt.Errorf("codegen: %s", C.GoString(e))
	}
	return nil
}

// Build compiles the spec (once per spec: the library is kept) and builds
// a pipeline over the ports, not yet running.
func (d *Dataplane) Build(spec []byte) (swx.Pipeline, error) {
	base := d.paths(spec)
	lib := base + ".so"
	if _, err := os.Stat(lib); err != nil {
		if err := d.Check(spec); err != nil {
			return nil, err
		}
		args := append([]string{"-c", "-O3", "-fpic", "-Wno-deprecated-declarations", "-o", base + ".o", base + ".c"}, d.cflags...)
		if out, err := exec.Command(d.cfg.CC, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("compile the generated C: %v: %s", err, firstLines(out, 10))
		}
		if out, err := exec.Command(d.cfg.CC, "-shared", base+".o", "-o", lib+".tmp").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("link the pipeline library: %v: %s", err, firstLines(out, 10))
		}
		if err := os.Rename(lib+".tmp", lib); err != nil {
			return nil, err
		}
	}
	io := base + ".io"
	if err := os.WriteFile(io, []byte(d.iospec()), 0o644); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.builds++
	name := fmt.Sprintf("p4ctl%d", d.builds)
	d.mu.Unlock()
	cn, cl, ci := C.CString(name), C.CString(lib), C.CString(io)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cl))
	defer C.free(unsafe.Pointer(ci))
	e, n := cerr()
	defer C.free(unsafe.Pointer(e))
	pl := C.swx_build(cn, cl, ci, e, n)
	if pl == nil {
		return nil, fmt.Errorf("build: %s", C.GoString(e))
	}
	return &pipe{pl: pl, name: name}, nil
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "; ")
}

// iospec is the pipeline's I/O: every input port below InPorts (a data
// port's device, the CPU ring, or an idle ring) and as many output ports
// plus the drop port.
func (d *Dataplane) iospec() string {
	var b strings.Builder
	for i := uint32(0); i < InPorts; i++ {
		switch {
		case d.ethdevs[i] != "":
			fmt.Fprintf(&b, "port in %d ethdev %s rxq 0 bsz 32\n", i, d.ethdevs[i])
		case i == d.cfg.CPUPort:
			fmt.Fprintf(&b, "port in %d ring swx_cpu_in bsz 1\n", i)
		default:
			fmt.Fprintf(&b, "port in %d ring swx_idle bsz 1\n", i)
		}
	}
	for i := uint32(0); i <= InPorts; i++ {
		switch {
		case d.ethdevs[i] != "":
			// A burst of 1 sends each frame at once.
			fmt.Fprintf(&b, "port out %d ethdev %s txq 0 bsz 1\n", i, d.ethdevs[i])
		case i == d.cfg.CPUPort:
			fmt.Fprintf(&b, "port out %d ring swx_cpu_out bsz 1\n", i)
		default:
			fmt.Fprintf(&b, "port out %d sink file none\n", i)
		}
	}
	return b.String()
}

// Run stops and frees the running pipeline and runs p on the worker lcore.
func (d *Dataplane) Run(p swx.Pipeline) error {
	np, ok := p.(*pipe)
	if !ok {
		return errors.New("not a pipeline of this data plane")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running != nil {
		C.swx_free(d.running.pl)
		d.running.pl = nil
	}
	if st := C.swx_start(np.pl, C.uint(d.cfg.Worker)); st != 0 {
		d.running = nil
		return fmt.Errorf("start the data-plane thread on lcore %d: %d", d.cfg.Worker, st)
	}
	d.running = np
	return nil
}

// Close stops the data plane's thread and frees its pipeline.
func (d *Dataplane) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running != nil {
		C.swx_free(d.running.pl)
		d.running = nil
	}
}

// SendCPU puts a frame (packet_out header first) into the pipeline's CPU
// port.
func (d *Dataplane) SendCPU(frame []byte) error {
	if len(frame) == 0 {
		return errors.New("empty frame")
	}
	if st := C.swx_cpu_send(unsafe.Pointer(&frame[0]), C.uint32_t(len(frame))); st != 0 {
		return fmt.Errorf("CPU port: the ring or the mbuf pool is full (%d)", st)
	}
	return nil
}

// RecvCPU copies up to len(lens) frames the pipeline sent to the CPU port
// into buf, each at i*stride, and returns how many.
func (d *Dataplane) RecvCPU(buf []byte, stride int, lens []uint32) int {
	if len(lens) == 0 || len(buf) < stride*len(lens) {
		return 0
	}
	d.cpuMu.Lock()
	defer d.cpuMu.Unlock()
	return int(C.swx_cpu_recv(unsafe.Pointer(&buf[0]), C.uint32_t(stride), (*C.uint32_t)(unsafe.Pointer(&lens[0])), C.int(len(lens))))
}

// pipe is one built pipeline.
type pipe struct {
	pl   *C.struct_swx_pl
	name string
}

func (p *pipe) Stage(table, line string, op swx.Op) error {
	ct, cl := C.CString(table), C.CString(line)
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cl))
	e, n := cerr()
	defer C.free(unsafe.Pointer(e))
	if st := C.swx_table_stage(p.pl, ct, cl, C.int(op), e, n); st != 0 {
		return errors.New(C.GoString(e))
	}
	return nil
}

func (p *pipe) Commit() error {
	e, n := cerr()
	defer C.free(unsafe.Pointer(e))
	if st := C.swx_commit(p.pl, e, n); st != 0 {
		return errors.New(C.GoString(e))
	}
	return nil
}

func (p *pipe) Abort() { C.swx_abort(p.pl) }

func (p *pipe) EntryID(table, line string) (uint32, error) {
	ct, cl := C.CString(table), C.CString(line)
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cl))
	id := int64(C.swx_entry_id(p.pl, ct, cl))
	if id < 0 {
		if id == -2 { // ENOENT
			return 0, errors.New("no such entry in the pipeline")
		}
		return 0, fmt.Errorf("entry id lookup: errno %d", -id)
	}
	return uint32(id), nil
}

func (p *pipe) RegRead(name string, i uint32) (uint64, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var v C.uint64_t
	if st := C.swx_reg_read(p.pl, cn, C.uint32_t(i), &v); st != 0 {
		return 0, fmt.Errorf("register array %s[%d]: %d", name, i, st)
	}
	return uint64(v), nil
}

func (p *pipe) RegWrite(name string, i uint32, v uint64) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if st := C.swx_reg_write(p.pl, cn, C.uint32_t(i), C.uint64_t(v)); st != 0 {
		return fmt.Errorf("register array %s[%d]: %d", name, i, st)
	}
	return nil
}

func (p *pipe) Free() {
	if p.pl != nil {
		C.swx_free(p.pl)
		p.pl = nil
	}
}

// Dump prints the running pipeline's port and table counters to stderr.
func (d *Dataplane) Dump() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running != nil {
		C.swx_dump(d.running.pl)
	}
}
