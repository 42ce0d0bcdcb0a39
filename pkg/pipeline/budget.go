package pipeline

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// Budget is the match memory of one pipe of a hardware target.
//
// A budget with Tables is what a compiler placed: bf-p4c reserves memory
// for every table's declared size, so the program fits its pipe whole and
// a device's entries fit exactly when every table's fit its size. Tables
// carries each table's size and the SRAM and TCAM blocks the compiler's
// resource report gives it (p4src/build/<arch>/pipe/logs/resources.json.gz;
// TestBudgetsMatchReport keeps them equal), and a table's entries take
// their share of those blocks.
//
// A budget without Tables is a model of memory, for a program no compiler
// has placed: per stage SRAMBlocks of SRAMWords x SRAMWordBits and
// TCAMBlocks of TCAMRows x TCAMRowBits; Fit packs entries into them
// (docs/targets.md says where the model was wrong for Tofino).
type Budget struct {
	Name   string
	Stages int
	// Per stage.
	SRAMBlocks, TCAMBlocks int
	// Tables is the compiler's placement, by table name; nil for a model.
	Tables map[string]TableBudget
	// The model's block geometry.
	SRAMWords, SRAMWordBits int
	TCAMRows, TCAMRowBits   int
	// HashFill is the share of an exact table's words that a hash table
	// can fill before inserts fail (cuckoo hashing over several ways).
	HashFill float64
}

// TableBudget is what a compiler gave one table: room for Size entries in
// SRAM blocks (match, action data and direct counter) and TCAM blocks.
type TableBudget struct {
	Size int64 `json:"size"`
	SRAM int   `json:"sram_blocks"`
	TCAM int   `json:"tcam_blocks"`
}

// Budgets of the hardware profiles, by name: Tofino 1 and 2 as bf-p4c
// 9.13.4 placed p4src/tna and p4src/t2na (12 and 20 stages of 80 SRAM
// and 24 TCAM blocks).
var Budgets = map[string]Budget{
	"tofino":  {Name: "tofino", Stages: 12, SRAMBlocks: 80, TCAMBlocks: 24, Tables: tofinoPlaced},
	"tofino2": {Name: "tofino2", Stages: 20, SRAMBlocks: 80, TCAMBlocks: 24, Tables: tofino2Placed},
}

// SRAMTotal and TCAMTotal are the pipe's blocks.
func (b Budget) SRAMTotal() int { return b.Stages * b.SRAMBlocks }
func (b Budget) TCAMTotal() int { return b.Stages * b.TCAMBlocks }

// TableUse is what one table's entries take.
type TableUse struct {
	Table   string `json:"table"`
	Entries int    `json:"entries"`
	// Size is the entries the table holds: its compiled size, 0 for a
	// model (which checks memory, not sizes).
	Size  int64  `json:"size,omitempty"`
	Match string `json:"match"`
	// SRAMBlocks holds exact entries, action data of TCAM entries and
	// direct counters; TCAMBlocks the keys of ternary, range and LPM
	// entries.
	SRAMBlocks float64 `json:"sram_blocks"`
	TCAMBlocks float64 `json:"tcam_blocks"`
}

// Fit is a device's entries against a Budget.
type Fit struct {
	Budget     string     `json:"budget"`
	Tables     []TableUse `json:"tables"`
	SRAMBlocks float64    `json:"sram_blocks"`
	TCAMBlocks float64    `json:"tcam_blocks"`
	SRAMTotal  int        `json:"sram_total"`
	TCAMTotal  int        `json:"tcam_total"`
	// Unplaced names the tables with entries that the compiled program
	// has no room for at all.
	Unplaced []string `json:"unplaced,omitempty"`
}

// Err says what does not fit, or nil: the first table whose entries
// exceed its compiled size, naming the entries it needs, or the memory a
// model's entries overflow.
func (f Fit) Err() error {
	if len(f.Unplaced) > 0 {
		return fmt.Errorf("%s: the compiled program has no table %s", f.Budget, f.Unplaced[0])
	}
	for _, u := range f.Tables {
		if u.Size > 0 && int64(u.Entries) > u.Size {
			return fmt.Errorf("%s: table %s needs %d entries and holds %d", f.Budget, u.Table, u.Entries, u.Size)
		}
	}
	switch {
	case f.SRAMBlocks > float64(f.SRAMTotal):
		return fmt.Errorf("%s: entries need %.0f SRAM blocks of the pipe's %d", f.Budget, f.SRAMBlocks, f.SRAMTotal)
	case f.TCAMBlocks > float64(f.TCAMTotal):
		return fmt.Errorf("%s: entries need %.0f TCAM blocks of the pipe's %d", f.Budget, f.TCAMBlocks, f.TCAMTotal)
	}
	return nil
}

// Fit places entries (per table name) of a pipeline described by in into
// the budget. In a compiled budget a table's entries take their share of
// the table's blocks and must not exceed its size; in (which may be nil)
// only names the match kinds. In a model an exact entry is its key, its
// action data, an action id and 4 bits of version and valid, packed into
// SRAM words and divided by the hash fill; a ternary, range or LPM entry
// takes TCAM rows of its key width (a range field costs twice its width,
// for the encoding TCAMs use for ranges) and SRAM for its action data; a
// direct packets-and-bytes counter takes 64 bits per entry.
func (b Budget) Fit(in *Info, entries map[string]int) Fit {
	f := Fit{Budget: b.Name, SRAMTotal: b.SRAMTotal(), TCAMTotal: b.TCAMTotal()}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range entries {
			if !yield(n) {
				return
			}
		}
	}) {
		n := entries[name]
		if n == 0 {
			continue
		}
		var t *Table
		if in != nil {
			t, _ = in.Table(name)
		}
		u := TableUse{Table: name, Entries: n}
		if t != nil {
			u.Match = t.MatchClass().String()
		}
		switch {
		case b.Tables != nil:
			tb, ok := b.Tables[name]
			if !ok || tb.Size <= 0 {
				f.Unplaced = append(f.Unplaced, name)
				continue
			}
			u.Size = tb.Size
			share := float64(n) / float64(tb.Size)
			u.SRAMBlocks = share * float64(tb.SRAM)
			u.TCAMBlocks = share * float64(tb.TCAM)
		case t != nil:
			u.SRAMBlocks, u.TCAMBlocks = b.model(t, n)
		default:
			continue
		}
		f.SRAMBlocks += u.SRAMBlocks
		f.TCAMBlocks += u.TCAMBlocks
		f.Tables = append(f.Tables, u)
	}
	return f
}

// CheckCapacity says whether a device of p's target holds entries (per
// table name): every table's within its size in p's P4Info, then, on a
// target with a budget, within the budget. It is the one check behind a
// device's capacity and `apply --dry-run --fit`: with a compiled budget
// (the embedded Tofino builds) the budget's sizes are the P4Info's, so the
// budget alone (--fit, whatever target the entries were compiled for)
// refuses exactly what this refuses. Each refusal names the table, the
// entries it needs and the entries it holds.
func (p *Pipeline) CheckCapacity(entries map[string]int) error {
	var errs []error
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range entries {
			if !yield(n) {
				return
			}
		}
	}) {
		if t, ok := p.Info.Table(name); ok && t.Size > 0 && int64(entries[name]) > t.Size {
			errs = append(errs, fmt.Errorf("table %s needs %d entries and holds %d", name, entries[name], t.Size))
		}
	}
	if b, ok := Budgets[p.Target.Budget]; ok && len(errs) == 0 {
		if err := b.Fit(p.Info, entries).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// model is the memory model's SRAM and TCAM blocks for n entries of t.
func (b Budget) model(t *Table, n int) (sram, tcam float64) {
	blockBits := float64(b.SRAMWords * b.SRAMWordBits)
	keyBits, tcamBits := 0, 0
	for _, fl := range t.Fields {
		keyBits += int(fl.Bitwidth)
		w := int(fl.Bitwidth)
		if fl.Kind == MatchRange {
			w *= 2
		}
		tcamBits += w
	}
	data := maxActionData(t) + bits.Len(uint(len(t.Actions)))
	if t.MatchClass() == MatchExact {
		per := keyBits + data + 4
		words := 0.0
		if k := b.SRAMWordBits / per; k >= 1 {
			words = float64(n) / float64(k)
		} else {
			words = float64(n) * float64((per+b.SRAMWordBits-1)/b.SRAMWordBits)
		}
		sram = words / b.HashFill / float64(b.SRAMWords)
	} else {
		width := (tcamBits + b.TCAMRowBits - 1) / b.TCAMRowBits
		tcam = float64(n) / float64(b.TCAMRows) * float64(width)
		sram = float64(n) * float64(data) / blockBits
	}
	if t.DirectCounterID != 0 {
		sram += float64(n) * 64 / blockBits
	}
	return sram, tcam
}

// maxActionData is the widest action data of t's entry actions, in bits.
func maxActionData(t *Table) int {
	widest := 0
	for _, ref := range t.Actions {
		a := ref.Action
		if a == nil || ref.DefaultOnly {
			continue
		}
		w := 0
		for _, p := range a.Params {
			w += int(p.Bitwidth)
		}
		widest = max(widest, w)
	}
	return widest
}
