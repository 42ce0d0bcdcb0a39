package pipeline

import (
	"fmt"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// Digest is a digest the pipeline sends the controller: a struct of
// bitstrings, in the order P4Info's type_info gives its members.
type Digest struct {
	ID      uint32
	Name    string
	Members []*MetadataField // Name and Bitwidth; ID is the member's 1-based position
}

// digestsOf indexes p4info's digests whose type is a struct of
// bitstrings (the only kind the pipelines here send).
func digestsOf(p4info *p4cfg.P4Info) (map[string]*Digest, error) {
	out := map[string]*Digest{}
	for _, d := range p4info.GetDigests() {
		pre := d.GetPreamble()
		st := d.GetTypeSpec().GetStruct()
		if st == nil {
			return nil, fmt.Errorf("p4info: digest %s: type is not a struct", pre.GetName())
		}
		def, ok := p4info.GetTypeInfo().GetStructs()[st.GetName()]
		if !ok {
			return nil, fmt.Errorf("p4info: digest %s: struct %s not in type_info", pre.GetName(), st.GetName())
		}
		dg := &Digest{ID: pre.GetId(), Name: pre.GetName()}
		for i, m := range def.GetMembers() {
			bs := m.GetTypeSpec().GetBitstring()
			w := bs.GetBit().GetBitwidth()
			if w == 0 {
				w = bs.GetVarbit().GetMaxBitwidth()
			}
			if w == 0 {
				return nil, fmt.Errorf("p4info: digest %s: member %s is not a bitstring", dg.Name, m.GetName())
			}
			dg.Members = append(dg.Members, &MetadataField{ID: uint32(i + 1), Name: m.GetName(), Bitwidth: w})
		}
		if _, dup := out[dg.Name]; dup {
			return nil, fmt.Errorf("p4info: duplicate digest name %q", dg.Name)
		}
		out[dg.Name] = dg
	}
	return out, nil
}

// Digest returns the digest called name.
func (in *Info) Digest(name string) (*Digest, bool) {
	d, ok := in.digests[name]
	return d, ok
}

// DigestByID returns the digest with the given id.
func (in *Info) DigestByID(id uint32) (*Digest, bool) {
	for _, d := range in.digests {
		if d.ID == id {
			return d, true
		}
	}
	return nil, false
}

// Decode reads one digest message: each member's value, canonical (no
// leading zero bytes, at least one byte), by name. A message that is not
// a struct of the digest's members, or a value wider than its member, is
// an error naming it.
func (d *Digest) Decode(data *p4v1.P4Data) (map[string][]byte, error) {
	st := data.GetStruct()
	if st == nil {
		return nil, fmt.Errorf("digest %s: data is not a struct", d.Name)
	}
	if len(st.GetMembers()) != len(d.Members) {
		return nil, fmt.Errorf("digest %s: %d members, want %d", d.Name, len(st.GetMembers()), len(d.Members))
	}
	out := make(map[string][]byte, len(d.Members))
	for i, m := range st.GetMembers() {
		f := d.Members[i]
		b, ok := m.GetData().(*p4v1.P4Data_Bitstring)
		if !ok {
			return nil, fmt.Errorf("digest %s: member %s is not a bitstring", d.Name, f.Name)
		}
		v := Canonical(b.Bitstring)
		if BitLen(v) > int(f.Bitwidth) {
			return nil, fmt.Errorf("digest %s: member %s: value wider than %d bits", d.Name, f.Name, f.Bitwidth)
		}
		out[f.Name] = v
	}
	return out, nil
}

// Encode is Decode's inverse, for targets that send digests (p4rtsim):
// members missing from vals are zero.
func (d *Digest) Encode(vals map[string][]byte) (*p4v1.P4Data, error) {
	st := &p4v1.P4StructLike{}
	for _, f := range d.Members {
		v := Canonical(vals[f.Name])
		if BitLen(v) > int(f.Bitwidth) {
			return nil, fmt.Errorf("digest %s: member %s: value wider than %d bits", d.Name, f.Name, f.Bitwidth)
		}
		st.Members = append(st.Members, &p4v1.P4Data{Data: &p4v1.P4Data_Bitstring{Bitstring: v}})
	}
	for name := range vals {
		found := false
		for _, f := range d.Members {
			found = found || f.Name == name
		}
		if !found {
			return nil, fmt.Errorf("digest %s: no member %s", d.Name, name)
		}
	}
	return &p4v1.P4Data{Data: &p4v1.P4Data_Struct{Struct: st}}, nil
}
