package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// DefaultHistoryRetention is how many revisions a node keeps when its
// Config does not say.
const DefaultHistoryRetention = 1000

// Revision is one committed change of the model: its raft index, when
// the leader prepared it, who asked for it, and what it did. Every node
// records the same revisions (they come from the log), snapshots carry
// them, and the newest Config.HistoryRetention are kept.
type Revision struct {
	Index   uint64    `json:"index"`
	Time    time.Time `json:"time"`
	Client  string    `json:"client,omitempty"`
	Summary string    `json:"summary"`
	// Added, Changed and Removed name the objects (Object.Ref).
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Before is the changed and removed objects as they were, as YAML
	// documents: with Added, what undoes the revision.
	Before string `json:"before,omitempty"`
}

// clientKey carries the identity of whoever asked for a change.
type clientKey struct{}

// WithClient returns ctx carrying the identity of the client a change is
// made for (a certificate subject, say); Prepare records it in the change.
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientOf is the identity WithClient put in ctx, or "".
func ClientOf(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}

// revision describes the step from model a to b made by cmd at index.
func revision(cmd command, index uint64, a, b *policy.Model) Revision {
	r := Revision{Index: index, Time: cmd.Time, Client: cmd.Client}
	var before []policy.Object
	for _, c := range policy.Changes(a, b) {
		switch {
		case c.Before == nil:
			r.Added = append(r.Added, c.Ref)
		case c.After == nil:
			r.Removed = append(r.Removed, c.Ref)
			before = append(before, c.Before)
		default:
			r.Changed = append(r.Changed, c.Ref)
			before = append(before, c.Before)
		}
	}
	if len(before) > 0 {
		r.Before = string(policy.Marshal(before))
	}
	what := cmd.Op
	if cmd.File != "" {
		what += " " + cmd.File
	}
	for _, src := range cmd.Files {
		what += " " + src.File
	}
	r.Summary = fmt.Sprintf("%s: %d added, %d changed, %d removed", what, len(r.Added), len(r.Changed), len(r.Removed))
	if names := slices.Concat(r.Added, r.Changed, r.Removed); len(names) > 0 {
		if len(names) > 4 {
			names = append(names[:4:4], fmt.Sprintf("and %d more", len(names)-4))
		}
		r.Summary += " (" + strings.Join(names, ", ") + ")"
	}
	return r
}

// record keeps r, dropping the oldest past the retention; mu is held.
func (f *fsm) record(r Revision) {
	f.history = append(f.history, r)
	if over := len(f.history) - f.retention; f.retention > 0 && over > 0 {
		f.history = slices.Delete(f.history, 0, over)
	}
}

// History returns the revisions the node keeps, oldest first.
func (n *Node) History() []Revision {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	return slices.Clone(n.fsm.history)
}

// PrepareRollback validates, against the current state, the change that
// brings the model back to what it was right after revision index: every
// object a later revision added is removed, and every one it changed or
// removed is put back as it was. It needs every revision after index in
// the history.
func (n *Node) PrepareRollback(ctx context.Context, index uint64) (*Proposal, error) {
	n.fsm.mu.RLock()
	hist, cur, rev := slices.Clone(n.fsm.history), n.fsm.model, n.fsm.revision
	n.fsm.mu.RUnlock()
	i := slices.IndexFunc(hist, func(r Revision) bool { return r.Index == index })
	if i < 0 {
		oldest := "none"
		if len(hist) > 0 {
			oldest = fmt.Sprint(hist[0].Index)
		}
		return nil, fmt.Errorf("cluster: revision %d is not in the history (kept: %d revisions, oldest %s)", index, len(hist), oldest)
	}
	// Walk back from the newest: each ref ends up as the earliest later
	// revision found it.
	state := map[string]policy.Object{} // nil: absent at index
	for j := len(hist) - 1; j > i; j-- {
		r := hist[j]
		for _, ref := range r.Added {
			state[ref] = nil
		}
		if r.Before == "" {
			continue
		}
		objs, err := policy.Parse(fmt.Sprintf("revision %d", r.Index), strings.NewReader(r.Before))
		if err != nil {
			return nil, fmt.Errorf("cluster: revision %d's undo: %w", r.Index, err)
		}
		for _, o := range objs {
			state[o.Ref()] = o
		}
	}
	var objs []policy.Object
	var dels []policy.Deletion
	for _, ref := range slices.Sorted(func(yield func(string) bool) {
		for k := range state {
			if !yield(k) {
				return
			}
		}
	}) {
		if o := state[ref]; o != nil {
			objs = append(objs, o)
		} else if _, ok := cur.Lookup(ref); ok {
			dels = append(dels, policy.DeletionOf(ref))
		}
	}
	if len(objs)+len(dels) == 0 {
		return nil, fmt.Errorf("cluster: the model is already as it was at revision %d", index)
	}
	// Prepared on the model the history was read with: a change in
	// between makes it stale rather than half undone.
	return n.prepareAt(ctx, command{Op: "change", File: fmt.Sprintf("rollback to %d", index), Docs: string(policy.Marshal(objs)), Delete: dels, Restore: true}, cur, rev)
}
