package pipeline

import (
	"fmt"
	"slices"
	"sync"
)

// Resolver gives each target name its pipeline: the embedded build, or
// the output of a compiler run for the target elsewhere (a lab's bf-p4c
// build for its Tofino), in the device config format chosen for the
// target. Pipelines are loaded once and shared. Safe for concurrent use;
// the controller's device workers call Pipeline.
type Resolver struct {
	dirs    map[string]string
	formats map[string]string

	mu    sync.Mutex
	cache map[string]*Pipeline
}

// NewResolver checks dirs (target -> artifact directory) and formats
// (target -> device config format) against the known targets. Artifacts
// in a directory are read at once, so that a wrong path fails at start.
func NewResolver(dirs, formats map[string]string) (*Resolver, error) {
	r := &Resolver{dirs: dirs, formats: formats, cache: map[string]*Pipeline{}}
	for name, f := range formats {
		t, err := LookupTarget(name)
		if err != nil {
			return nil, fmt.Errorf("device config format for %s: %w", name, err)
		}
		if !slices.Contains(t.Formats, f) {
			return nil, fmt.Errorf("target %s takes device configs as %v, not %q", name, t.Formats, f)
		}
	}
	for name := range dirs {
		if _, err := r.Pipeline(name); err != nil {
			return nil, err
		}
	}
	for name := range formats {
		if _, err := r.Pipeline(name); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Pipeline returns the pipeline of the target called name.
func (r *Resolver) Pipeline(name string) (*Pipeline, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.cache[name]; ok {
		return p, nil
	}
	t, err := LookupTarget(name)
	if err != nil {
		return nil, err
	}
	var p *Pipeline
	switch dir, f := r.dirs[name], r.formats[name]; {
	case dir != "":
		p, err = LoadDir(t, dir, f)
	case f != "" && f != t.Formats[0]:
		p, err = Embedded(name)
		if err == nil && p.NoConfig == nil {
			p, err = embeddedAs(t, f)
		}
	default:
		p, err = Embedded(name)
	}
	if err != nil {
		return nil, err
	}
	r.cache[name] = p
	return p, nil
}
