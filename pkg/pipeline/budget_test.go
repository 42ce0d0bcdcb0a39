package pipeline

import (
	"math"
	"testing"
)

// TestBudgetFit checks the memory model on two tables, with the figures
// worked out here by hand from the P4Info shapes: ingress.policy_port is
// a 56-bit exact key (identities 16+16, protocol 8, port 16) with a
// 16-bit rank and one of 3 actions plus NoAction (3 bits of action id)
// and 4 bits of version/valid: 79 bits, one entry per 128-bit word;
// ingress.acl_v4 is 120 ternary bits, three 44-bit TCAM rows.
func TestBudgetFit(t *testing.T) {
	p, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	b := Budgets["tofino"]
	f := b.Fit(p.Info, map[string]int{"ingress.policy_port": 10240, "ingress.acl_v4": 512})
	blockBits := 1024.0 * 128
	wantSRAM := 10240/0.9/1024 + 10240*64/blockBits + // policy_port words, then its direct counter
		512*3/blockBits // the ACL's action ids
	wantTCAM := 3.0
	if math.Abs(f.SRAMBlocks-wantSRAM) > 1e-9 || math.Abs(f.TCAMBlocks-wantTCAM) > 1e-9 {
		t.Errorf("fit %+v: SRAM %.4f blocks (want %.4f), TCAM %.4f (want %.4f)", f, f.SRAMBlocks, wantSRAM, f.TCAMBlocks, wantTCAM)
	}
	if f.SRAMTotal != 12*80 || f.TCAMTotal != 12*24 || f.Err() != nil {
		t.Errorf("totals %d/%d, err %v", f.SRAMTotal, f.TCAMTotal, f.Err())
	}
	// A million single-port rules with counters take more SRAM than one
	// Tofino 1 pipe has.
	big := b.Fit(p.Info, map[string]int{"ingress.policy_port": 1 << 20})
	if big.Err() == nil {
		t.Errorf("1M policy entries fit one pipe: %+v", big)
	}
}
