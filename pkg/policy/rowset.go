package policy

import (
	"iter"
	"maps"
)

// rowSet is the rows of one place. Most of a large model's rows are
// policy rows (five of every six in the hypervisor fleet of
// pkg/bench/fleet), whose keys use a fifth of rowKey's fields: those are
// kept under policyKey, 20 bytes instead of 96, and the rest under
// rowKey. Which map holds a row follows from its key alone (compactKey),
// so a key is found wherever it was put.
//
// A set that a snapshot holds is never written again
// (Compiler.rowsToWrite); the methods that read are safe on a nil set,
// which is empty.
type rowSet struct {
	pol map[policyKey]row // keys that policyKey holds whole
	gen map[rowKey]row    // the others
}

// compactKey is k as a policyKey, when that holds every field k sets.
func compactKey(k *rowKey) (policyKey, bool) {
	if !policyTable(k.t) {
		return policyKey{}, false
	}
	pk := policyKeyOf(k)
	return pk, pk.rowKey() == *k
}

func (s *rowSet) get(k *rowKey) (row, bool) {
	if s == nil {
		return row{}, false
	}
	if pk, ok := compactKey(k); ok {
		r, ok := s.pol[pk]
		return r, ok
	}
	r, ok := s.gen[*k]
	return r, ok
}

func (s *rowSet) put(k *rowKey, r row) {
	if pk, ok := compactKey(k); ok {
		if s.pol == nil {
			s.pol = map[policyKey]row{}
		}
		s.pol[pk] = r
		return
	}
	if s.gen == nil {
		s.gen = map[rowKey]row{}
	}
	s.gen[*k] = r
}

func (s *rowSet) del(k *rowKey) {
	if pk, ok := compactKey(k); ok {
		delete(s.pol, pk)
		return
	}
	delete(s.gen, *k)
}

func (s *rowSet) len() int {
	if s == nil {
		return 0
	}
	return len(s.pol) + len(s.gen)
}

// all yields every row of the set with its key, in no order.
func (s *rowSet) all() iter.Seq2[rowKey, row] {
	return func(yield func(rowKey, row) bool) {
		if s == nil {
			return
		}
		for pk, r := range s.pol {
			if !yield(pk.rowKey(), r) {
				return
			}
		}
		for k, r := range s.gen {
			if !yield(k, r) {
				return
			}
		}
	}
}

// clone is a copy of s that shares no map with it.
func (s *rowSet) clone() *rowSet {
	return &rowSet{pol: maps.Clone(s.pol), gen: maps.Clone(s.gen)}
}
