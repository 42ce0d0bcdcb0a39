package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// pruneKey marks a context whose PrepareFiles also prunes; its value is
// the revision the prune must be prepared on (0: any).
type pruneKey struct{}

// WithPrune returns ctx asking PrepareFiles to make the files the whole
// model: every object of the model the change is prepared on that the
// files do not name is removed, in the same change. With a revision
// other than 0 (the one a preview of the deletions was made on), a model
// at any other revision refuses the change (ErrStale), so nothing the
// preview did not list is removed. Carried in the context, like the
// client, so that callers between the API and the node (the controller's
// capacity check and its retries of a stale change) need not know of it;
// each retry prunes against the model it prepares on.
func WithPrune(ctx context.Context, revision uint64) context.Context {
	return context.WithValue(ctx, pruneKey{}, revision)
}

// pruneOf reports whether WithPrune marked ctx, and the revision it
// wants.
func pruneOf(ctx context.Context) (bool, uint64) {
	rev, ok := ctx.Value(pruneKey{}).(uint64)
	return ok, rev
}

// Pruned are the deletions that leave m holding only the objects objs
// name (by Ref), in m's object order.
func Pruned(m *policy.Model, objs []policy.Object) []policy.Deletion {
	keep := make(map[string]bool, len(objs))
	for _, o := range objs {
		keep[o.Ref()] = true
	}
	var dels []policy.Deletion
	for _, o := range m.Objects() {
		if !keep[o.Ref()] {
			dels = append(dels, policy.DeletionOf(o.Ref()))
		}
	}
	return dels
}

// prepareReplace prepares the change that makes srcs the whole model: the
// documents applied, everything else removed, as one "change" command.
// The documents are validated from srcs first, so that errors name their
// files and lines; the log entry holds them re-marshalled, as a
// rollback's does.
func (n *Node) prepareReplace(ctx context.Context, srcs []Source, want uint64) (*Proposal, error) {
	objs, err := ParseSources(srcs)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(srcs))
	for i, s := range srcs {
		names[i] = s.File
	}
	if len(objs) == 0 {
		return nil, policy.Errors{&policy.Error{Src: policy.Source{File: names[0]}, Msg: "no documents"}}
	}
	m, rev := n.fsm.currentRevision()
	if want != 0 && rev != want {
		return nil, fmt.Errorf("%w: the deletions were previewed on revision %d and the model is at %d: preview them again", ErrStale, want, rev)
	}
	dels := Pruned(m, objs)
	_, warnings, err := m.With(objs, dels)
	if err != nil {
		return nil, err
	}
	cmd := command{Op: "change", File: "prune " + strings.Join(names, ", "), Docs: string(policy.Marshal(objs)), Delete: dels}
	p, err := n.prepareAt(ctx, cmd, m, rev)
	if err != nil {
		return nil, err
	}
	// The warnings name the files and lines given, not the log entry's.
	p.res.Warnings = warnings
	return p, nil
}

// Changes are the objects the proposal adds, changes and removes, from
// the model it was prepared on.
func (p *Proposal) Changes() []policy.Change { return policy.Changes(p.base, p.next) }
