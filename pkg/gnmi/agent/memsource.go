package agent

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemLinks is a LinkSource of links its owner sets: for a device whose
// ports the agent cannot read from netlink, and for tests. Set may be
// called from any goroutine; a change is signalled to Watch without
// blocking Set while Watch keeps up (64 pending changes).
type MemLinks struct {
	mu      sync.Mutex
	links   map[string]Link
	changed chan string
}

// NewMemLinks returns a MemLinks holding links.
func NewMemLinks(links ...Link) *MemLinks {
	s := &MemLinks{links: map[string]Link{}, changed: make(chan string, 64)}
	for _, l := range links {
		s.links[l.Name] = l
	}
	return s
}

// Set adds or replaces l and signals the change.
func (s *MemLinks) Set(l Link) {
	s.mu.Lock()
	s.links[l.Name] = l
	s.mu.Unlock()
	s.changed <- l.Name
}

// Links lists the links, by name.
func (s *MemLinks) Links() ([]Link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Link, 0, len(s.links))
	for _, l := range s.links {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Watch calls changed for every Set until ctx ends.
func (s *MemLinks) Watch(ctx context.Context, changed func(string)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-s.changed:
			changed(n)
		}
	}
}
