package swx_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/p4ctl/p4ctl/pkg/swx"
)

// fakeDataplane is a Dataplane without DPDK: entries are kept as the
// lines the control API would read, ids handed out as an exact table's
// slots would be, registers in maps. It refuses a spec holding "REFUSE".
type fakeDataplane struct {
	mu      sync.Mutex
	ports   map[uint32]bool
	running *fakePipeline
	builds  int
	// failCommit makes the next commit fail.
	failCommit bool
}

func newFake(ports ...uint32) *fakeDataplane {
	d := &fakeDataplane{ports: map[uint32]bool{}}
	for _, p := range ports {
		d.ports[p] = true
	}
	return d
}

func (d *fakeDataplane) Check(spec []byte) error {
	if strings.Contains(string(spec), "REFUSE") {
		return errors.New("line 1: Invalid statement (codegen)")
	}
	return nil
}

func (d *fakeDataplane) Build(spec []byte) (swx.Pipeline, error) {
	if err := d.Check(spec); err != nil {
		return nil, err
	}
	d.builds++
	return &fakePipeline{d: d, tables: map[string]map[string]fakeEntry{}, regs: map[string]map[uint32]uint64{}}, nil
}

func (d *fakeDataplane) Run(p swx.Pipeline) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running = p.(*fakePipeline)
	return nil
}

func (d *fakeDataplane) Ports() map[uint32]bool { return d.ports }

// entries is the running pipeline's entries of a spec table, by match.
func (d *fakeDataplane) entries(table string) map[string]fakeEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running == nil {
		return nil
	}
	return d.running.tables[table]
}

type fakeEntry struct {
	line string
	id   uint32
}

type fakeOp struct {
	table, line string
	op          swx.Op
}

type fakePipeline struct {
	d       *fakeDataplane
	tables  map[string]map[string]fakeEntry
	nextID  map[string]uint32
	staged  []fakeOp
	regs    map[string]map[uint32]uint64
	deflt   map[string]string
	commits int
}

func matchOf(line string) string {
	if i := strings.Index(line, " action "); i >= 0 {
		return line[:i]
	}
	return line
}

func (p *fakePipeline) Stage(table, line string, op swx.Op) error {
	if !strings.HasPrefix(line, "match") {
		return fmt.Errorf("table %s: the pipeline refuses the entry %q", table, line)
	}
	p.staged = append(p.staged, fakeOp{table, line, op})
	return nil
}

func (p *fakePipeline) Commit() error {
	if p.d.failCommit {
		p.d.failCommit = false
		return errors.New("commit: Cannot allocate memory")
	}
	if p.nextID == nil {
		p.nextID = map[string]uint32{}
		p.deflt = map[string]string{}
	}
	for _, o := range p.staged {
		t := p.tables[o.table]
		if t == nil {
			t = map[string]fakeEntry{}
			p.tables[o.table] = t
		}
		m := matchOf(o.line)
		switch o.op {
		case swx.OpAdd:
			e, ok := t[m]
			if !ok {
				p.nextID[o.table]++ // ids start at 1, as entryid's do
				e.id = p.nextID[o.table]
			}
			e.line = o.line
			t[m] = e
		case swx.OpDelete:
			delete(t, m)
		case swx.OpDefault:
			p.deflt[o.table] = o.line
		}
	}
	p.staged = nil
	p.commits++
	return nil
}

func (p *fakePipeline) Abort() { p.staged = nil }

func (p *fakePipeline) EntryID(table, line string) (uint32, error) {
	e, ok := p.tables[table][matchOf(line)]
	if !ok {
		return 0, errors.New("no such entry")
	}
	return e.id, nil
}

func (p *fakePipeline) RegRead(name string, i uint32) (uint64, error) {
	return p.regs[name][i], nil
}

func (p *fakePipeline) RegWrite(name string, i uint32, v uint64) error {
	if p.regs[name] == nil {
		p.regs[name] = map[uint32]uint64{}
	}
	p.regs[name][i] = v
	return nil
}

func (p *fakePipeline) Free() {}
