package p4rt_test

import (
	"fmt"
	"slices"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestEntrySetAddEncoded: a set filled from compact forms holds what Add
// of the messages puts in one, and refuses a key twice as Add does.
func TestEntrySetAddEncoded(t *testing.T) {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	U := pipeline.Uint
	var es []*p4v1.TableEntry
	for i := range uint64(5) {
		e, err := p.Info.NewEntry("ingress.policy_proto").Exact("src_identity", U(i)).Exact("dst_identity", U(7)).Exact("ip_proto", U(6)).
			Action("policy_proto_allow", pipeline.P("rank", U(10+i))).Build()
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	byMsg, byKey := p4rt.NewEntrySet(len(es)), p4rt.NewEntrySet(len(es))
	for _, e := range es {
		if err := byMsg.Add(e); err != nil {
			t.Fatal(err)
		}
		if err := byKey.AddEncoded(pipeline.EntryKey(e), pipeline.ActionKey(e)); err != nil {
			t.Fatal(err)
		}
	}
	dump := func(s *p4rt.EntrySet) []string {
		var out []string
		s.Each(func(e *p4v1.TableEntry) error {
			out = append(out, pipeline.EntryKey(e)+"="+pipeline.ActionKey(e))
			return nil
		})
		return out
	}
	if got, want := dump(byKey), dump(byMsg); !slices.Equal(got, want) {
		t.Fatalf("AddEncoded set %q, Add set %q", got, want)
	}
	err = byKey.AddEncoded(pipeline.EntryKey(es[2]), pipeline.ActionKey(es[0]))
	if want := byMsg.Add(es[2]); err == nil || fmt.Sprint(err) != fmt.Sprint(want) {
		t.Fatalf("a key added twice: %v, Add says %v", err, want)
	}
}
