package pipeline

import (
	"fmt"
	"math/bits"
	"slices"
)

// Budget is the match memory of one pipe of a hardware target, and the
// model that turns a table's entries into memory units. Figures for
// Tofino come from the open-source bf-p4c (backends/tofino/bf-p4c/mau:
// memories.h and the device descriptions): per stage 80 SRAM blocks of
// 1024 words x 128 bits and 24 TCAM blocks of 512 rows x 44 bits; 12
// stages per pipe on Tofino 1, 20 on Tofino 2. docs/targets.md states
// the model's assumptions; the compiler's own resource report is the
// final word once a TNA build exists.
type Budget struct {
	Name   string
	Stages int
	// Per stage.
	SRAMBlocks, TCAMBlocks int
	// Block geometry.
	SRAMWords, SRAMWordBits int
	TCAMRows, TCAMRowBits   int
	// HashFill is the share of an exact table's words that a hash table
	// can fill before inserts fail (cuckoo hashing over several ways).
	HashFill float64
}

// Budgets of the hardware profiles, by name.
var Budgets = map[string]Budget{
	"tofino":  {Name: "tofino", Stages: 12, SRAMBlocks: 80, TCAMBlocks: 24, SRAMWords: 1024, SRAMWordBits: 128, TCAMRows: 512, TCAMRowBits: 44, HashFill: 0.9},
	"tofino2": {Name: "tofino2", Stages: 20, SRAMBlocks: 80, TCAMBlocks: 24, SRAMWords: 1024, SRAMWordBits: 128, TCAMRows: 512, TCAMRowBits: 44, HashFill: 0.9},
}

// SRAMTotal and TCAMTotal are the pipe's blocks.
func (b Budget) SRAMTotal() int { return b.Stages * b.SRAMBlocks }
func (b Budget) TCAMTotal() int { return b.Stages * b.TCAMBlocks }

// TableUse is what one table's entries take.
type TableUse struct {
	Table   string `json:"table"`
	Entries int    `json:"entries"`
	Match   string `json:"match"`
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
}

// Err says which memory does not fit, or nil.
func (f Fit) Err() error {
	switch {
	case f.SRAMBlocks > float64(f.SRAMTotal):
		return fmt.Errorf("%s: entries need %.0f SRAM blocks of the pipe's %d", f.Budget, f.SRAMBlocks, f.SRAMTotal)
	case f.TCAMBlocks > float64(f.TCAMTotal):
		return fmt.Errorf("%s: entries need %.0f TCAM blocks of the pipe's %d", f.Budget, f.TCAMBlocks, f.TCAMTotal)
	}
	return nil
}

// Fit places entries (per table name) of a pipeline described by in into
// the budget: an exact entry is its key, its action data, an action id
// and 4 bits of version and valid, packed into SRAM words and divided by
// the hash fill; a ternary, range or LPM entry takes TCAM rows of its key
// width (a range field costs twice its width, for the encoding TCAMs use
// for ranges) and SRAM for its action data; a direct packets-and-bytes
// counter takes 64 bits per entry.
func (b Budget) Fit(in *Info, entries map[string]int) Fit {
	f := Fit{Budget: b.Name, SRAMTotal: b.SRAMTotal(), TCAMTotal: b.TCAMTotal()}
	blockBits := float64(b.SRAMWords * b.SRAMWordBits)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range entries {
			if !yield(n) {
				return
			}
		}
	}) {
		n := entries[name]
		t, ok := in.Table(name)
		if !ok || n == 0 {
			continue
		}
		u := TableUse{Table: name, Entries: n, Match: t.MatchClass().String()}
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
			u.SRAMBlocks = words / b.HashFill / float64(b.SRAMWords)
		} else {
			width := (tcamBits + b.TCAMRowBits - 1) / b.TCAMRowBits
			u.TCAMBlocks = float64(n) / float64(b.TCAMRows) * float64(width)
			u.SRAMBlocks = float64(n) * float64(data) / blockBits
		}
		if t.DirectCounterID != 0 {
			u.SRAMBlocks += float64(n) * 64 / blockBits
		}
		f.SRAMBlocks += u.SRAMBlocks
		f.TCAMBlocks += u.TCAMBlocks
		f.Tables = append(f.Tables, u)
	}
	return f
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
