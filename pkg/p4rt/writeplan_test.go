package p4rt_test

import (
	"context"
	"fmt"
	"testing"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// sized returns p with the given tables' sizes changed in its P4Info, so
// that the device (which takes its sizes from the P4Info) and the session
// (which reads them from the pipeline it pushed) agree on them.
func sized(t *testing.T, p *pipeline.Pipeline, sizes map[string]int64) *pipeline.Pipeline {
	t.Helper()
	pi := proto.Clone(p.Info.P4Info).(*p4cfg.P4Info)
	for _, tb := range pi.GetTables() {
		if n, ok := sizes[tb.GetPreamble().GetName()]; ok {
			tb.Size = n
		}
	}
	info, err := pipeline.NewInfo(pi)
	if err != nil {
		t.Fatal(err)
	}
	c := *p
	c.Info, c.Cookie = info, p.Cookie^1
	return &c
}

func acl(t *testing.T, in *pipeline.Info, src uint64, prio int32) *p4v1.TableEntry {
	t.Helper()
	e, err := in.NewEntry("ingress.acl_v4").Ternary("src_ip", pipeline.Uint(src), pipeline.Uint(0xffffffff)).
		Priority(prio).Action("acl_deny").Build()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestWritePlanInsertsBeforeDeletes replaces entries by ones with other
// keys (an ACL rule whose priority changed) and watches the order the
// device receives the updates in: a table with room gets the new entries
// before losing the old ones, so that neither rule is missing at any
// point; a table that would overflow gets its deletes first and still
// ends up as desired.
func TestWritePlanInsertsBeforeDeletes(t *testing.T) {
	base := embedded(t)
	type build func(in *pipeline.Info) []*p4v1.TableEntry
	aclRules := func(prios ...int32) build {
		return func(in *pipeline.Info) []*p4v1.TableEntry {
			var es []*p4v1.TableEntry
			for i, pr := range prios {
				es = append(es, acl(t, in, uint64(i+1), pr))
			}
			return es
		}
	}
	cases := []struct {
		name             string
		sizes            map[string]int64
		initial, desired build
		unknownSizes     bool            // the plan does not know the table sizes
		deletesFirst     map[string]bool // by table name
	}{
		{name: "priority change in a table with room",
			initial: aclRules(10), desired: aclRules(20),
			deletesFirst: map[string]bool{"ingress.acl_v4": false}},
		{name: "table filled to its size",
			sizes:   map[string]int64{"ingress.acl_v4": 4},
			initial: aclRules(10, 10, 10, 10), desired: aclRules(10, 10, 20, 20),
			deletesFirst: map[string]bool{"ingress.acl_v4": true}},
		{name: "room for exactly the inserts",
			sizes:   map[string]int64{"ingress.acl_v4": 4},
			initial: aclRules(10, 10, 10), desired: aclRules(10, 10, 20),
			deletesFirst: map[string]bool{"ingress.acl_v4": false}},
		{name: "table sizes unknown",
			initial: aclRules(10), desired: aclRules(20), unknownSizes: true,
			deletesFirst: map[string]bool{"ingress.acl_v4": true}},
		{name: "one full table, one with room",
			sizes: map[string]int64{"ingress.acl_v4": 2},
			initial: func(in *pipeline.Info) []*p4v1.TableEntry {
				return append(aclRules(10, 10)(in), l2(t, in, 1, 0xa, 1), l2(t, in, 1, 0xb, 1))
			},
			desired: func(in *pipeline.Info) []*p4v1.TableEntry {
				return append(aclRules(10, 30)(in), l2(t, in, 1, 0xa, 1), l2(t, in, 2, 0xb, 1))
			},
			deletesFirst: map[string]bool{"ingress.acl_v4": true, "ingress.l2": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := base
			if c.sizes != nil {
				p = sized(t, base, c.sizes)
			}
			rec, dial := startRecorder(t)
			s := primary(t, dial, p)
			ctx := context.Background()
			var tables []uint32
			for name := range c.deletesFirst {
				tb, _ := p.Info.Table(name)
				tables = append(tables, tb.ID)
			}
			set := func(es []*p4v1.TableEntry) *p4rt.EntrySet {
				set := p4rt.NewEntrySet(len(es))
				for _, e := range es {
					if err := set.Add(e); err != nil {
						t.Fatal(err)
					}
				}
				return set
			}
			o := p4rt.BulkOptions{BatchSize: 1, InFlight: 2}
			if _, err := s.ReconcileSet(ctx, set(c.initial(p.Info)), o, tables...); err != nil {
				t.Fatalf("initial fill: %v", err)
			}
			desired := c.desired(p.Info)
			plan, err := s.PlanSet(ctx, set(desired), tables...)
			if err != nil {
				t.Fatal(err)
			}
			if c.unknownSizes {
				plan.Sizes = nil
			}
			for name, want := range c.deletesFirst {
				tb, _ := p.Info.Table(name)
				if got := plan.DeletesFirst(tb.ID); got != want {
					t.Errorf("%s: DeletesFirst = %v, want %v (held %d, size %d, plan %v)", name, got, want, plan.Held[tb.ID], plan.Sizes[tb.ID], plan)
				}
			}
			rec.mu.Lock()
			rec.entries = nil
			rec.mu.Unlock()
			if err := s.WritePlan(ctx, plan, o); err != nil {
				t.Fatalf("WritePlan: %v", err)
			}
			// Per table: where its first and last insert and delete came.
			type span struct{ firstIns, lastIns, firstDel, lastDel int }
			order := map[uint32]*span{}
			for i, u := range rec.entries {
				sp := order[u.e.GetTableId()]
				if sp == nil {
					sp = &span{-1, -1, -1, -1}
					order[u.e.GetTableId()] = sp
				}
				switch u.typ {
				case p4v1.Update_INSERT:
					if sp.firstIns < 0 {
						sp.firstIns = i
					}
					sp.lastIns = i
				case p4v1.Update_DELETE:
					if sp.firstDel < 0 {
						sp.firstDel = i
					}
					sp.lastDel = i
				}
			}
			for name, delFirst := range c.deletesFirst {
				tb, _ := p.Info.Table(name)
				sp := order[tb.ID]
				if sp == nil || sp.firstIns < 0 || sp.firstDel < 0 {
					t.Fatalf("%s: the device got no insert or no delete: %+v", name, sp)
				}
				switch {
				case delFirst && sp.lastDel > sp.firstIns:
					t.Errorf("%s: an insert (update %d) came before the last delete (update %d)", name, sp.firstIns, sp.lastDel)
				case !delFirst && sp.lastIns > sp.firstDel:
					t.Errorf("%s: a delete (update %d) came before the last insert (update %d)", name, sp.firstDel, sp.lastIns)
				}
			}
			installed, err := s.ReadTables(ctx, tables...)
			if err != nil {
				t.Fatal(err)
			}
			if d := p4rt.Diff(desired, installed); !d.Empty() {
				t.Errorf("device differs from desired after the write: %v", d)
			}
		})
	}
}

// TestDeletesFirst checks the rule on plans whose counts are given.
func TestDeletesFirst(t *testing.T) {
	in := embedded(t).Info
	tb, _ := in.Table("ingress.acl_v4")
	plan := func(held int, known bool, size int64, inserts int) p4rt.Plan {
		p := p4rt.Plan{Sizes: map[uint32]int64{}}
		if known {
			p.Held = map[uint32]int{tb.ID: held}
		}
		if size > 0 {
			p.Sizes[tb.ID] = size
		}
		for i := 0; i < inserts; i++ {
			p.Insert = append(p.Insert, acl(t, in, uint64(i+1), 20))
		}
		p.Delete = []*p4v1.TableEntry{acl(t, in, 1, 10)}
		return p
	}
	cases := []struct {
		held    int
		known   bool
		size    int64
		inserts int
		want    bool
	}{
		{held: 1, known: true, size: 10, inserts: 1, want: false},
		{held: 9, known: true, size: 10, inserts: 1, want: false},
		{held: 10, known: true, size: 10, inserts: 1, want: true},
		{held: 8, known: true, size: 10, inserts: 3, want: true},
		{held: 1, known: false, size: 10, inserts: 1, want: true},
		{held: 1, known: true, size: 0, inserts: 1, want: true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("held %d known %v size %d inserts %d", c.held, c.known, c.size, c.inserts), func(t *testing.T) {
			if got := plan(c.held, c.known, c.size, c.inserts).DeletesFirst(tb.ID); got != c.want {
				t.Errorf("DeletesFirst = %v, want %v", got, c.want)
			}
		})
	}
}
