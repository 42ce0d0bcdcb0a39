package pipeline

import (
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

func policyEntry(b *testing.B, in *Info, i uint64) *p4v1.TableEntry {
	e, err := in.NewEntry("ingress.policy_port").
		Exact("src_identity", Uint(i&0xffff)).Exact("dst_identity", Uint(i>>16&0xffff)).
		Exact("ip_proto", Uint(6)).Exact("l4_dst_port", Uint(5432)).
		Action("policy_port_allow", P("rank", Uint(100))).Build()
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func embeddedInfo(b *testing.B) *Info {
	p, err := Embedded("bmv2")
	if err != nil {
		b.Fatal(err)
	}
	return p.Info
}

func BenchmarkBuildPolicyEntry(b *testing.B) {
	in := embeddedInfo(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		policyEntry(b, in, uint64(i))
	}
}

func BenchmarkEntryKey(b *testing.B) {
	e := policyEntry(b, embeddedInfo(b), 12345)
	b.ReportAllocs()
	for b.Loop() {
		_ = EntryKey(e)
	}
}

func BenchmarkNormalizeEntry(b *testing.B) {
	e := policyEntry(b, embeddedInfo(b), 12345)
	b.ReportAllocs()
	for b.Loop() {
		_ = NormalizeEntry(e)
	}
}

func BenchmarkCheckEntry(b *testing.B) {
	in := embeddedInfo(b)
	e := policyEntry(b, in, 12345)
	b.ReportAllocs()
	for b.Loop() {
		if err := in.CheckEntry(e); err != nil {
			b.Fatal(err)
		}
	}
}
