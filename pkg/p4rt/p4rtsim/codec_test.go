package p4rtsim

import (
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

func tableUpdate(id uint32, prio int32) *p4v1.Update {
	return &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{
		TableId: id, Priority: prio,
		Match: []*p4v1.FieldMatch{{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: []byte{byte(prio)}}}}},
	}}}}
}

// checkRaw asserts the codec's promise: every entry it found decodes to
// exactly the table entry of the same update.
func checkRaw(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var req p4v1.WriteRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		return nil
	}
	raws := rawEntries(data, len(req.GetUpdates()))
	if raws == nil {
		return nil
	}
	for i, raw := range raws {
		if raw == nil {
			continue
		}
		var got p4v1.TableEntry
		if err := proto.Unmarshal(raw, &got); err != nil {
			t.Fatalf("update %d: raw entry does not decode: %v", i, err)
		}
		want := req.GetUpdates()[i].GetEntity().GetTableEntry()
		if want == nil {
			t.Fatalf("update %d: raw entry found but the update holds %T", i, req.GetUpdates()[i].GetEntity().GetEntity())
		}
		if d := cmp.Diff(want, &got, protocmp.Transform()); d != "" {
			t.Fatalf("update %d: raw entry differs (-decoded +raw):\n%s", i, d)
		}
	}
	return raws
}

func TestRawEntries(t *testing.T) {
	req := &p4v1.WriteRequest{DeviceId: 1, ElectionId: &p4v1.Uint128{Low: 1}, Updates: []*p4v1.Update{
		tableUpdate(7, 1),
		{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_PacketReplicationEngineEntry{
			PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{
				MulticastGroupEntry: &p4v1.MulticastGroupEntry{MulticastGroupId: 3}}}}}},
		tableUpdate(7, 2),
	}}
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	// A fourth update whose entity is sent in two pieces, which protobuf
	// merges: the codec must not take either piece for the entry.
	e1, _ := proto.Marshal(tableUpdate(7, 3).GetEntity())
	e2, _ := proto.Marshal(&p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{Priority: 9}}})
	var u []byte
	u = protowire.AppendTag(u, 2, protowire.BytesType)
	u = protowire.AppendBytes(u, e1)
	u = protowire.AppendTag(u, 2, protowire.BytesType)
	u = protowire.AppendBytes(u, e2)
	data = protowire.AppendTag(data, 4, protowire.BytesType)
	data = protowire.AppendBytes(data, u)

	raws := checkRaw(t, data)
	if len(raws) != 4 {
		t.Fatalf("got %d raw entries, want 4", len(raws))
	}
	for i, found := range []bool{true, false, true, false} {
		if (raws[i] != nil) != found {
			t.Errorf("update %d: found = %v, want %v", i, raws[i] != nil, found)
		}
	}
}

func FuzzRawEntries(f *testing.F) {
	data, _ := proto.Marshal(&p4v1.WriteRequest{Updates: []*p4v1.Update{tableUpdate(1, 1), tableUpdate(2, 5)}})
	f.Add(data)
	f.Add([]byte{0x22, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) { checkRaw(t, data) })
}

// TestCodecFindsTheDevice: a fleet's codec keeps a WriteRequest's entries
// with the device the request names, and nowhere for an unknown device.
func TestCodecFindsTheDevice(t *testing.T) {
	f, err := NewFleet(FleetOptions{FirstID: 10, Devices: 5})
	if err != nil {
		t.Fatal(err)
	}
	c := simCodec{f.Device}
	for _, tc := range []struct {
		device uint64
		kept   bool
	}{{10, true}, {12, true}, {14, true}, {9, false}, {15, false}} {
		data, _ := proto.Marshal(&p4v1.WriteRequest{DeviceId: tc.device, Updates: []*p4v1.Update{tableUpdate(1, 1), tableUpdate(1, 2)}})
		req := &p4v1.WriteRequest{}
		if err := c.Unmarshal(data, req); err != nil {
			t.Fatal(err)
		}
		for id := uint64(10); id < 15; id++ {
			raws := f.Device(id).takeRaw(req)
			if want := tc.kept && id == tc.device; (raws != nil) != want || want && len(raws) != 2 {
				t.Errorf("request for device %d: device %d kept %d entries, want kept = %v", tc.device, id, len(raws), want)
			}
		}
	}
}
