package console

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// model is the desired state as the API's Get answers it, parsed back
// into objects.
type model struct {
	index     uint64
	devices   map[string]*policy.Device
	segments  map[string]*policy.Segment
	ports     []*policy.Port
	endpoints map[string]*policy.Endpoint
	policies  map[string]*policy.Policy
}

// getModel asks the API for every object of the model.
func (c *Console) getModel(ctx context.Context) (*model, error) { return c.getKind(ctx, "") }

// getKind asks the API for the objects of one kind ("": every kind).
func (c *Console) getKind(ctx context.Context, kind string) (*model, error) {
	resp, err := c.o.API.Get(ctx, &p4ctlv1.GetRequest{Kind: kind})
	if err != nil {
		return nil, err
	}
	objs, err := policy.Parse("model", bytes.NewReader(resp.GetDocs()))
	if err != nil {
		return nil, fmt.Errorf("the API's model does not parse: %w", err)
	}
	m := &model{index: resp.GetIndex(), devices: map[string]*policy.Device{}, segments: map[string]*policy.Segment{},
		endpoints: map[string]*policy.Endpoint{}, policies: map[string]*policy.Policy{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *policy.Device:
			m.devices[o.Name] = o
		case *policy.Segment:
			m.segments[o.Name] = o
		case *policy.Port:
			m.ports = append(m.ports, o)
		case *policy.Endpoint:
			m.endpoints[o.Name] = o
		case *policy.Policy:
			m.policies[o.Name] = o
		}
	}
	return m, nil
}

// deviceNames lists the model's devices, for messages.
func (m *model) deviceNames() string {
	if len(m.devices) == 0 {
		return "the model has none"
	}
	return "devices: " + strings.Join(slices.Sorted(maps.Keys(m.devices)), ", ")
}

// labelKey names a label set: "app=shop,tier=web", sorted by key.
func labelKey(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

// orEmpty is s, or an empty slice where s is nil, so that JSON lists are
// never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
