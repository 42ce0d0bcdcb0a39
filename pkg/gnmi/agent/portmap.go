package agent

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParsePortMap reads a port map: a YAML mapping of P4Runtime port numbers
// to interface names, as a BMv2 switch is started with them
// (-i 1@veth1 is "1: veth1"). Port numbers run from 1 to 2^32-1; an
// interface or a port may appear once.
func ParsePortMap(b []byte) (map[string]uint32, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("port map: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("port map: empty")
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("port map: line %d: want a mapping of port: interface", m.Line)
	}
	out := map[string]uint32{}
	ports := map[uint64]string{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("port map: line %d: want port: interface", k.Line)
		}
		port, err := strconv.ParseUint(k.Value, 10, 32)
		if err != nil || port == 0 {
			return nil, fmt.Errorf("port map: line %d: port %q is not a number from 1 to %d", k.Line, k.Value, uint32(1<<32-1))
		}
		name := v.Value
		if name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") {
			return nil, fmt.Errorf("port map: line %d: interface name %q (Linux names have 1-15 characters, no '/', ':' or spaces)", v.Line, name)
		}
		if prev, dup := ports[port]; dup {
			return nil, fmt.Errorf("port map: line %d: port %d is given twice (also %s)", k.Line, port, prev)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("port map: line %d: interface %s is given twice", v.Line, name)
		}
		ports[port] = name
		out[name] = uint32(port)
	}
	return out, nil
}
