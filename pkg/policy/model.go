package policy

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"weak"
)

// PortKey names a device port.
type PortKey struct {
	Device string
	Port   uint32
}

// Model is a validated set of documents: every reference resolves, no
// name, segment id, MAC or IP is claimed twice. It is immutable once
// built; With returns a changed copy that shares unchanged objects.
type Model struct {
	Devices   map[string]*Device
	Segments  map[string]*Segment
	Ports     map[PortKey]*Port
	Endpoints map[string]*Endpoint
	Policies  map[string]*Policy

	// Links are the cables between devices the topology sees, normalized
	// (NormalizeLinks): runtime state set by Binder.Bind, never replicated
	// and never validated; the compiler uses those between uplinks.
	Links []Link

	// base and touched record what With changed, so that the compiler
	// need not compare whole models to find one changed endpoint. base is
	// weak: a strong pointer would chain every model ever made to the
	// newest, and a controller would keep its whole history.
	base    weak.Pointer[Model]
	touched map[string]bool // Object.Ref of every object added, replaced or removed

	// ids are the identity ids of the model's endpoints (replicated with
	// it: see identityTable).
	ids *identityTable

	// addrs indexes the endpoints' addresses, when the model was
	// validated by With (nil otherwise).
	addrs *addrIndex
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{Devices: map[string]*Device{}, Segments: map[string]*Segment{}, Ports: map[PortKey]*Port{},
		Endpoints: map[string]*Endpoint{}, Policies: map[string]*Policy{}, ids: newIdentityTable()}
}

// Build validates objs as a whole model.
func Build(objs []Object) (*Model, []string, error) {
	return NewModel().With(objs, nil)
}

// sameObject reports whether a and b are the same document (the same
// kind and fields; where each was read from does not count).
func sameObject(a, b Object) bool {
	return a.Ref() == b.Ref() && bytes.Equal(Marshal([]Object{a}), Marshal([]Object{b}))
}

// Deletion names an object to remove: its kind and its Ref without the
// kind ("web-1", or "leaf1/3" for a port).
type Deletion struct{ Kind, Name string }

// With returns the model with objs added or replacing objects of the same
// kind and name, and dels removed, after validating the result as a whole.
// Warnings (a selector that matches nothing, a segment without ports) do
// not fail it. On error m is unchanged and no model is returned. A staged
// Policy named like an enforced one is refused: applied, it would stop
// enforcing it (Restore allows that).
func (m *Model) With(objs []Object, dels []Deletion) (*Model, []string, error) {
	return m.with(objs, dels, false)
}

// Restore is With for putting back objects as an earlier revision held
// them (a rollback): a policy promoted since may go back to staged.
func (m *Model) Restore(objs []Object, dels []Deletion) (*Model, []string, error) {
	return m.with(objs, dels, true)
}

func (m *Model) with(objs []Object, dels []Deletion, restore bool) (*Model, []string, error) {
	n := &Model{Devices: maps.Clone(m.Devices), Segments: maps.Clone(m.Segments), Ports: maps.Clone(m.Ports),
		Endpoints: maps.Clone(m.Endpoints), Policies: maps.Clone(m.Policies), base: weak.Make(m), touched: map[string]bool{}}
	for _, d := range dels {
		n.touched[d.Kind+" "+d.Name] = true
	}
	for _, o := range objs {
		n.touched[o.Ref()] = true
	}
	var errs Errors
	fail := func(o Object, field, format string, args ...any) {
		errs = append(errs, &Error{Src: o.Source(), Doc: o.Ref(), Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, d := range dels {
		if err := n.delete(d); err != nil {
			e := &Error{Doc: d.Kind + " " + d.Name, Msg: err.Error()}
			if err == errNotHeld {
				e.Err = ErrNotFound
			}
			errs = append(errs, e)
		}
	}
	// Names given twice in one batch are an error; a name already in the
	// model is replaced.
	seen := map[string]Object{}
	for _, o := range objs {
		if prev, dup := seen[o.Ref()]; dup {
			fail(o, "name", "defined twice in one apply (also at %s)", prev.Source())
			continue
		}
		seen[o.Ref()] = o
		if cur, ok := n.Lookup(o.Ref()); ok && sameObject(cur, o) {
			// Re-applied as it is (a whole file applied again with one
			// change in it): the model keeps the object it holds, so
			// that its pointers say what changed. The compiler and the
			// identities compare pointers; a new pointer for every
			// device of a file would recompile everything.
			delete(n.touched, o.Ref())
			continue
		}
		switch x := o.(type) {
		case *Device:
			n.Devices[x.Name] = x
		case *Segment:
			n.Segments[x.Name] = x
		case *Port:
			n.Ports[PortKey{x.Device, x.Port}] = x
		case *Endpoint:
			n.Endpoints[x.Name] = x
		case *Policy:
			if old := m.Policies[x.Name]; x.Staged && old != nil && !old.Staged && !restore {
				fail(o, "mode", "policy %s is enforced; a staged policy of the same name would stop enforcing it (give the staged policy another name, or delete %s first)", x.Name, x.Name)
				continue
			}
			n.Policies[x.Name] = x
		default:
			return nil, nil, fmt.Errorf("unknown object type %T", o)
		}
	}
	// Identity ids follow the endpoints that changed. They are worked out
	// before the checks, which take the distinct label sets from them.
	var removed, added []*Endpoint
	for ref := range n.touched {
		kind, name, _ := strings.Cut(ref, " ")
		if kind != KindEndpoint || m.Endpoints[name] == n.Endpoints[name] {
			continue
		}
		if e, ok := m.Endpoints[name]; ok {
			removed = append(removed, e)
		}
		if e, ok := n.Endpoints[name]; ok {
			added = append(added, e)
		}
	}
	ids, idErr := m.identities().update(removed, added)
	if idErr == nil {
		n.ids = ids
	}
	objectsChecked := len(errs) == 0 && n.checkChangedEndpoints(m)
	warnings := n.check(fail, objectsChecked)
	if len(errs) > 0 {
		errs = stillUsed(errs, dels)
		sortErrors(errs)
		return nil, nil, errs
	}
	if idErr != nil {
		return nil, nil, idErr
	}
	return n, warnings, nil
}

func (m *Model) delete(d Deletion) error {
	var ok bool
	switch d.Kind {
	case KindDevice:
		_, ok = m.Devices[d.Name]
		delete(m.Devices, d.Name)
	case KindSegment:
		_, ok = m.Segments[d.Name]
		delete(m.Segments, d.Name)
	case KindPort:
		for k, p := range m.Ports {
			if p.Device+"/"+itoa(int(p.Port)) == d.Name {
				ok = true
				delete(m.Ports, k)
			}
		}
	case KindEndpoint:
		_, ok = m.Endpoints[d.Name]
		delete(m.Endpoints, d.Name)
	case KindPolicy:
		_, ok = m.Policies[d.Name]
		delete(m.Policies, d.Name)
	default:
		return fmt.Errorf("unknown kind %q", d.Kind)
	}
	if !ok {
		return errNotHeld
	}
	return nil
}

var errNotHeld = errors.New("not found")

// unknownRef is how validation names a reference to an object the model
// lacks.
var unknownRef = regexp.MustCompile(`^unknown (device|segment) "([^"]*)"$`)

// stillUsed folds the errors about references to objects being deleted
// into one error per deleted object naming what still uses it, rather
// than one "unknown segment" line per port and endpoint.
func stillUsed(errs Errors, dels []Deletion) Errors {
	deleted := map[string]bool{}
	for _, d := range dels {
		deleted[d.Kind+" "+d.Name] = true
	}
	users := map[string][]string{}
	var out Errors
	for _, e := range errs {
		if m := unknownRef.FindStringSubmatch(e.Msg); m != nil {
			ref := strings.ToUpper(m[1][:1]) + m[1][1:] + " " + m[2]
			if deleted[ref] && e.Doc != "" {
				users[ref] = append(users[ref], e.Doc)
				continue
			}
		}
		out = append(out, e)
	}
	for _, ref := range slices.Sorted(maps.Keys(users)) {
		u := slices.Compact(slices.Sorted(slices.Values(users[ref])))
		list := u
		if len(list) > 8 {
			list = append(list[:8:8], fmt.Sprintf("and %d more", len(u)-8))
		}
		out = append(out, &Error{Doc: ref, Msg: fmt.Sprintf("still used by %s: delete or move them first, or in the same call", strings.Join(list, ", "))})
	}
	return out
}

func comparePortKeys(a, b PortKey) int {
	if a.Device != b.Device {
		if a.Device < b.Device {
			return -1
		}
		return 1
	}
	return int(a.Port) - int(b.Port)
}
