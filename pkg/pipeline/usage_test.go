package pipeline

import (
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	p, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := p.Info.Table("ingress.l2")
	u, err := p.Info.Usage(map[uint32]int{l2.ID: int(l2.Size) + 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(u) != len(p.Info.Tables()) {
		t.Fatalf("%d usages for %d tables", len(u), len(p.Info.Tables()))
	}
	for _, x := range u {
		switch {
		case x.ID == l2.ID && (x.Fits() || x.Fill() <= 1 || x.Entries != int(l2.Size)+1):
			t.Errorf("overfull l2: %v fits=%v", x, x.Fits())
		case x.ID != l2.ID && (x.Entries != 0 || !x.Fits() || x.Fill() != 0):
			t.Errorf("empty table: %v", x)
		}
	}
	if _, err := p.Info.Usage(map[uint32]int{12345: 1}); err == nil || !strings.Contains(err.Error(), "table id 12345") {
		t.Errorf("unknown table id: err = %v", err)
	}
}
