package pipeline

import "fmt"

// TableUsage is how full one table is.
type TableUsage struct {
	Table   string `json:"table"`
	ID      uint32 `json:"id"`
	Entries int    `json:"entries"`
	Size    int64  `json:"size"`
}

// Fill is Entries / Size (0 for a table of unknown size).
func (u TableUsage) Fill() float64 {
	if u.Size <= 0 {
		return 0
	}
	return float64(u.Entries) / float64(u.Size)
}

// Fits reports whether the entries fit in the table. A size of 0 means
// the P4Info does not say, and anything fits.
func (u TableUsage) Fits() bool { return u.Size <= 0 || int64(u.Entries) <= u.Size }

func (u TableUsage) String() string {
	return fmt.Sprintf("%s: %d of %d entries (%.1f%%)", u.Table, u.Entries, u.Size, 100*u.Fill())
}

// Usage returns the usage of every table of the pipeline, in P4Info
// order, given entry counts by table id. Counts for ids the pipeline does
// not have are an error: they are entries no table would take.
func (in *Info) Usage(counts map[uint32]int) ([]TableUsage, error) {
	for id, n := range counts {
		if _, ok := in.tablesByID[id]; !ok && n > 0 {
			return nil, fmt.Errorf("%d entries for table id %d, which the pipeline does not have", n, id)
		}
	}
	out := make([]TableUsage, 0, len(in.tablesByID))
	for _, t := range in.Tables() {
		out = append(out, TableUsage{Table: t.Name, ID: t.ID, Entries: counts[t.ID], Size: t.Size})
	}
	return out, nil
}
