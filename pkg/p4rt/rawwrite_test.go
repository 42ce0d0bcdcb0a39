package p4rt

import (
	"math/rand/v2"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// The raw encoder must produce exactly what protobuf decodes back into the
// normalized entry, for every shape the compact form holds.
func TestRawTableEntryEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var w writeEncoder
	for i := 0; i < 5000; i++ {
		e := randomEntry(r)
		e.CounterData, e.Metadata = nil, nil
		b, err := w.tableEntry(nil, pipeline.EntryKey(e), pipeline.ActionKey(e))
		if err != nil {
			t.Fatalf("entry %d: %v\n%v", i, err, e)
		}
		var got p4v1.TableEntry
		if err := proto.Unmarshal(b, &got); err != nil {
			t.Fatalf("entry %d: raw encoding does not parse: %v", i, err)
		}
		if want := pipeline.NormalizeEntry(e); !proto.Equal(&got, want) {
			t.Fatalf("entry %d:\n got %v\nwant %v", i, &got, want)
		}
	}
}

func TestRawWriteRequestEncoding(t *testing.T) {
	s := &Session{deviceID: 9, role: "r", election: ElectionID{High: 1, Low: 2}}
	w := s.newWriteEncoder()
	r := rand.New(rand.NewPCG(7, 8))
	var want []*p4v1.TableEntry
	for i := 0; i < 10; i++ {
		e := randomEntry(r)
		e.CounterData, e.Metadata, e.IsDefaultAction = nil, nil, false
		if err := w.add(p4v1.Update_MODIFY, pipeline.EntryKey(e), pipeline.ActionKey(e)); err != nil {
			t.Fatal(err)
		}
		want = append(want, pipeline.NormalizeEntry(e))
	}
	var req p4v1.WriteRequest
	if err := proto.Unmarshal(w.take(), &req); err != nil {
		t.Fatal(err)
	}
	if req.DeviceId != 9 || req.Role != "r" || req.ElectionId.GetHigh() != 1 || req.ElectionId.GetLow() != 2 || len(req.Updates) != 10 {
		t.Fatalf("request header wrong: %v", &req)
	}
	for i, u := range req.Updates {
		if u.Type != p4v1.Update_MODIFY || !proto.Equal(u.GetEntity().GetTableEntry(), want[i]) {
			t.Fatalf("update %d: %v, want %v", i, u, want[i])
		}
	}
	if w.n != 0 {
		t.Error("take did not reset the encoder")
	}
}
