package swx

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Op is what a staged entry line does.
type Op int

// The operations of the pipeline control API.
const (
	OpAdd     Op = iota // add, or modify an entry with the same key
	OpDelete            // delete
	OpDefault           // set the table's default action
)

// Dataplane is DPDK's side: the ports and the pipeline that runs on them
// (pkg/swx/dpdk; a fake in tests).
type Dataplane interface {
	// Check compiles the spec (codegen), without building or running it.
	Check(spec []byte) error
	// Build compiles the spec and builds a pipeline over the ports; it
	// does not run it.
	Build(spec []byte) (Pipeline, error)
	// Run stops the running pipeline, if any, frees it and runs p.
	Run(p Pipeline) error
	// Ports are the P4 port numbers of the pipeline's ports (data ports
	// and the CPU port).
	Ports() map[uint32]bool
}

// Pipeline is one built pipeline's control API.
type Pipeline interface {
	// Stage schedules an entry line for the next Commit.
	Stage(table, line string, op Op) error
	Commit() error
	Abort()
	// EntryID is the id the pipeline's entryid instruction gives the entry
	// whose key line names (an exact table's).
	EntryID(table, line string) (uint32, error)
	RegRead(name string, i uint32) (uint64, error)
	RegWrite(name string, i uint32, v uint64) error
	// Free releases a pipeline that never ran.
	Free()
}

// Backend programs a Dataplane for a p4rtsim.Server (p4rtsim.Backend).
type Backend struct {
	dp  Dataplane
	log *slog.Logger

	prog    *Program
	running atomic.Pointer[Program] // prog, for readers outside the server's lock
	pl      Pipeline
	// counters to set once the staged entries are committed (an insert
	// starts at zero or at what it carries).
	pending []pendingCounter
	// counter cells of deleted entries, zeroed after the commit.
	zero []zeroCounter
}

type zeroCounter struct {
	regs *Regs
	id   uint32
}

type pendingCounter struct {
	t               *Table
	line            string
	packets, octets int64
}

var _ p4rtsim.Backend = (*Backend)(nil)

// NewBackend returns the backend of dp; log may be nil.
func NewBackend(dp Dataplane, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{dp: dp, log: log}
}

// Program is the running program; nil before a pipeline is loaded. It
// may be called at any time (packet I/O).
func (b *Backend) Program() *Program { return b.running.Load() }

// Verify parses the config against its P4Info and compiles the spec.
func (b *Backend) Verify(p *p4rtsim.BackendPipeline) error {
	prog, err := Parse(p.Info, p.DeviceConfig)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := b.dp.Check(prog.Spec); err != nil {
		return status.Errorf(codes.InvalidArgument, "the SWX pipeline refuses the spec: %v", err)
	}
	return nil
}

// Load builds the pipeline and runs it in place of the running one.
func (b *Backend) Load(p *p4rtsim.BackendPipeline) error {
	prog, err := Parse(p.Info, p.DeviceConfig)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	pl, err := b.dp.Build(prog.Spec)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot allocate memory") {
			// The new pipeline is built before the running one is freed:
			// the EAL needs room for both.
			return status.Errorf(codes.ResourceExhausted, "the SWX pipeline could not be built, the running one is untouched: %v (p4ctl-swx --mem: room for two pipelines)", err)
		}
		return status.Errorf(codes.InvalidArgument, "the SWX pipeline could not be built, the running one is untouched: %v", err)
	}
	if err := b.dp.Run(pl); err != nil {
		pl.Free()
		return status.Errorf(codes.Internal, "run the pipeline: %v", err)
	}
	b.prog, b.pl, b.pending, b.zero = prog, pl, nil, nil
	b.running.Store(prog)
	b.log.Info("pipeline loaded", "tables", len(prog.tables))
	return nil
}

func (b *Backend) table(t *pipeline.Table) (*Table, error) {
	if b.pl == nil {
		return nil, status.Error(codes.FailedPrecondition, "no pipeline is running")
	}
	tb, ok := b.prog.Table(t.ID)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "table %s is not in the running pipeline", t.Name)
	}
	return tb, nil
}

// Stage schedules one update.
func (b *Backend) Stage(typ p4v1.Update_Type, t *pipeline.Table, e *p4v1.TableEntry) error {
	tb, err := b.table(t)
	if err != nil {
		return err
	}
	if e.GetIsDefaultAction() {
		if tb.ConstDefault {
			return status.Errorf(codes.InvalidArgument, "table %s: the spec makes its default action const", t.Name)
		}
		line, err := tb.Line(e, b.dp.Ports())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return stageErr(b.pl.Stage(tb.Name, line, OpDefault))
	}
	if typ == p4v1.Update_DELETE {
		line, err := tb.MatchLine(e)
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		var id uint32
		if tb.Counter != nil {
			// The entry's counter cells are zeroed once it is gone, so
			// that the entry that gets its id next starts at zero (the
			// register arrays start at zero): inserts need no lookup.
			if id, err = b.pl.EntryID(tb.Name, line); err != nil {
				id = 0
			}
		}
		if err := b.pl.Stage(tb.Name, line, OpDelete); err != nil {
			return stageErr(err)
		}
		if id != 0 {
			b.zero = append(b.zero, zeroCounter{regs: tb.Counter, id: id})
		}
		return nil
	}
	line, err := tb.Line(e, b.dp.Ports())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err := b.pl.Stage(tb.Name, line, OpAdd); err != nil {
		return stageErr(err)
	}
	if tb.Counter != nil {
		// A new entry's cells are zero (see the delete); a counter the
		// write carries is set once it is in.
		if c := e.GetCounterData(); c != nil {
			m, _ := tb.MatchLine(e)
			b.pending = append(b.pending, pendingCounter{t: tb, line: m, packets: c.GetPacketCount(), octets: c.GetByteCount()})
		}
	}
	return nil
}

func stageErr(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// Commit applies the staged updates, then sets the counters of the
// entries inserted.
func (b *Backend) Commit() error {
	if b.pl == nil {
		return status.Error(codes.FailedPrecondition, "no pipeline is running")
	}
	pending, zero := b.pending, b.zero
	b.pending, b.zero = nil, nil
	if err := b.pl.Commit(); err != nil {
		return status.Errorf(codes.ResourceExhausted, "the pipeline refused the batch: %v", err)
	}
	var errs []error
	for _, z := range zero {
		if err := b.writeRegs(z.regs, z.id, 0, 0); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range pending {
		if err := b.setCounter(p.t, p.line, p.packets, p.octets); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// The entries are in: the counters are what failed. Say so, but
		// do not fail the writes.
		b.log.Warn("counters of new entries not reset", "err", errors.Join(errs...))
	}
	return nil
}

// Abort drops the staged updates.
func (b *Backend) Abort() {
	b.pending, b.zero = nil, nil
	if b.pl != nil {
		b.pl.Abort()
	}
}

func (b *Backend) setCounter(t *Table, line string, packets, octets int64) error {
	id, err := b.pl.EntryID(t.Name, line)
	if err != nil {
		return fmt.Errorf("table %s: %w", t.Info.Name, err)
	}
	return b.writeRegs(t.Counter, id, packets, octets)
}

func (b *Backend) writeRegs(r *Regs, i uint32, packets, octets int64) error {
	if r.Packets != "" {
		if err := b.pl.RegWrite(r.Packets, i, uint64(packets)); err != nil {
			return err
		}
	}
	if r.Bytes != "" {
		return b.pl.RegWrite(r.Bytes, i, uint64(octets))
	}
	return nil
}

func (b *Backend) readRegs(r *Regs, i uint32) (packets, octets int64, err error) {
	var p, o uint64
	if r.Packets != "" {
		if p, err = b.pl.RegRead(r.Packets, i); err != nil {
			return 0, 0, err
		}
	}
	if r.Bytes != "" {
		if o, err = b.pl.RegRead(r.Bytes, i); err != nil {
			return 0, 0, err
		}
	}
	return int64(p), int64(o), nil
}

// DirectCounter reads an entry's counter from its register arrays.
func (b *Backend) DirectCounter(t *pipeline.Table, e *p4v1.TableEntry) (int64, int64, error) {
	tb, err := b.table(t)
	if err != nil {
		return 0, 0, err
	}
	if tb.Counter == nil {
		return 0, 0, status.Errorf(codes.InvalidArgument, "table %s has no direct counter", t.Name)
	}
	line, err := tb.MatchLine(e)
	if err != nil {
		return 0, 0, status.Error(codes.InvalidArgument, err.Error())
	}
	id, err := b.pl.EntryID(tb.Name, line)
	if err != nil {
		return 0, 0, status.Errorf(codes.NotFound, "table %s: %v", t.Name, err)
	}
	return b.readRegs(tb.Counter, id)
}

// SetDirectCounter sets an entry's counter.
func (b *Backend) SetDirectCounter(t *pipeline.Table, e *p4v1.TableEntry, packets, octets int64) error {
	tb, err := b.table(t)
	if err != nil {
		return err
	}
	if tb.Counter == nil {
		return status.Errorf(codes.InvalidArgument, "table %s has no direct counter", t.Name)
	}
	line, err := tb.MatchLine(e)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return b.setCounter(tb, line, packets, octets)
}

func (b *Backend) counter(c *pipeline.Counter, i int64) (*Regs, error) {
	if b.pl == nil {
		return nil, status.Error(codes.FailedPrecondition, "no pipeline is running")
	}
	r, ok := b.prog.Counter(c.ID)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "counter %s is not in the running pipeline", c.Name)
	}
	if i < 0 || uint64(i) >= r.Size {
		return nil, status.Errorf(codes.OutOfRange, "counter %s: index %d outside 0..%d", c.Name, i, r.Size-1)
	}
	return r, nil
}

// Counter reads an indexed counter's cell.
func (b *Backend) Counter(c *pipeline.Counter, i int64) (int64, int64, error) {
	r, err := b.counter(c, i)
	if err != nil {
		return 0, 0, err
	}
	return b.readRegs(r, uint32(i))
}

// SetCounter sets an indexed counter's cell.
func (b *Backend) SetCounter(c *pipeline.Counter, i int64, packets, octets int64) error {
	r, err := b.counter(c, i)
	if err != nil {
		return err
	}
	return b.writeRegs(r, uint32(i), packets, octets)
}
