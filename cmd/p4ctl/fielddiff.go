package main

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldChange is one field of an object that a change sets to another
// value: its path in the document ("rules[0].ports") and its values
// before and after (nil where the field is absent).
type fieldChange struct {
	Path   string `json:"path"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// fieldChanges compares two documents of one object field by field.
func fieldChanges(before, after string) ([]fieldChange, error) {
	a, err := parseDocument(before)
	if err != nil {
		return nil, err
	}
	b, err := parseDocument(after)
	if err != nil {
		return nil, err
	}
	out := []fieldChange{}
	diffNodes("", a, b, &out)
	return out, nil
}

// diffNodes appends the differences between a and b at path: the fields
// of mappings one by one, the items of lists of the same length one by
// one, anything else whole.
func diffNodes(path string, a, b *yaml.Node, out *[]fieldChange) {
	if nodesEqual(a, b) {
		return
	}
	switch {
	case a != nil && b != nil && a.Kind == yaml.MappingNode && b.Kind == yaml.MappingNode:
		av, bv := mappingOf(a), mappingOf(b)
		var keys []string
		seen := map[string]bool{}
		for _, n := range []*yaml.Node{a, b} {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i].Value; !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		for _, k := range keys {
			diffNodes(fieldPath(path, k), av[k], bv[k], out)
		}
		return
	case a != nil && b != nil && a.Kind == yaml.SequenceNode && b.Kind == yaml.SequenceNode &&
		(len(a.Content) == len(b.Content) || !scalars(a) || !scalars(b)):
		for i := range max(len(a.Content), len(b.Content)) {
			var x, y *yaml.Node
			if i < len(a.Content) {
				x = a.Content[i]
			}
			if i < len(b.Content) {
				y = b.Content[i]
			}
			diffNodes(fmt.Sprintf("%s[%d]", path, i), x, y, out)
		}
		return
	}
	*out = append(*out, fieldChange{Path: path, Before: valueJSON(a), After: valueJSON(b)})
}

// valueJSON is a node's value for JSON, or nil.
func valueJSON(n *yaml.Node) any {
	if n == nil {
		return nil
	}
	return docJSON{n}
}

func mappingOf(n *yaml.Node) map[string]*yaml.Node {
	m := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
	}
	return m
}

// scalars reports whether a list holds scalars only (compared whole).
func scalars(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

func nodesEqual(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		return a.Value == b.Value && a.ShortTag() == b.ShortTag()
	case yaml.MappingNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		bm := mappingOf(b)
		for i := 0; i+1 < len(a.Content); i += 2 {
			if y, ok := bm[a.Content[i].Value]; !ok || !nodesEqual(a.Content[i+1], y) {
				return false
			}
		}
		return true
	}
	if len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !nodesEqual(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// fieldPath is the path of field key under path: a.b, or a["x.y"].
func fieldPath(path, key string) string {
	if !plainKey.MatchString(key) {
		return fmt.Sprintf("%s[%q]", path, key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// flowString renders a value on one line, in YAML's flow style:
// 8080, [8080, 8443], {proto: tcp, action: allow}; (none) when absent.
func flowString(v any) string {
	d, ok := v.(docJSON)
	if !ok || d.n == nil {
		return "(none)"
	}
	n := cloneNode(d.n)
	flowStyle(n)
	b, err := yaml.Marshal(n)
	if err != nil {
		return "?"
	}
	return strings.TrimSuffix(string(b), "\n")
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = cloneNode(x)
	}
	return &c
}

// flowStyle puts collections in flow style and lets scalars be plain
// where they can.
func flowStyle(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		n.Style = 0
	} else {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flowStyle(c)
	}
}
