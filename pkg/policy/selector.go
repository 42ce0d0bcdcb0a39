package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Op is a selector requirement's operator.
type Op uint8

// Operators.
const (
	OpEquals Op = iota
	OpNotEquals
	OpIn
	OpNotIn
	OpExists
	OpNotExists
)

// Requirement is one condition on an endpoint's labels.
type Requirement struct {
	Key    string
	Op     Op
	Values []string // sorted, no duplicates; one for OpEquals and OpNotEquals
}

// Selector selects endpoints by labels: every requirement must hold. The
// empty selector selects every endpoint of the segment.
type Selector []Requirement

// Matches reports whether labels satisfy every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.Key]
		switch r.Op {
		case OpEquals:
			if !ok || v != r.Values[0] {
				return false
			}
		case OpNotEquals:
			if ok && v == r.Values[0] {
				return false
			}
		case OpIn:
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case OpNotIn:
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case OpExists:
			if !ok {
				return false
			}
		case OpNotExists:
			if ok {
				return false
			}
		}
	}
	return true
}

func (r Requirement) String() string {
	switch r.Op {
	case OpEquals:
		return r.Key + ": " + r.Values[0]
	case OpNotEquals:
		return r.Key + " != " + r.Values[0]
	case OpIn:
		return r.Key + " in (" + strings.Join(r.Values, ", ") + ")"
	case OpNotIn:
		return r.Key + " notin (" + strings.Join(r.Values, ", ") + ")"
	case OpExists:
		return r.Key + " exists"
	case OpNotExists:
		return "!" + r.Key
	}
	return "?"
}

func (s Selector) String() string {
	if len(s) == 0 {
		return "(all)"
	}
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// MaxLabelLen bounds label keys and values.
const MaxLabelLen = 63

func labelChar(c byte, key bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || key && c == '/'
}

// checkLabel validates a label key (key true) or value.
func checkLabel(s string, key bool) error {
	what := "value"
	if key {
		what = "key"
	}
	if s == "" {
		if key {
			return fmt.Errorf("empty label key")
		}
		return nil
	}
	if len(s) > MaxLabelLen {
		return fmt.Errorf("label %s %.20q... is longer than %d characters", what, s, MaxLabelLen)
	}
	for i := 0; i < len(s); i++ {
		if !labelChar(s[i], key) {
			return fmt.Errorf("label %s %q: character %q is not allowed (letters, digits, '-', '_', '.'%s)", what, s, s[i], map[bool]string{true: ", '/'"}[key])
		}
	}
	return nil
}

// ParseSelector parses requirements separated by commas:
//
//	key: value   key = value   key == value   key != value
//	key in (a, b)   key notin (a, b)   key exists   !key
//
// The empty string selects everything.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	depth, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '(':
				depth++
				if depth > 1 {
					return nil, fmt.Errorf("nested parentheses in selector %q", s)
				}
				continue
			case ')':
				depth--
				if depth < 0 {
					return nil, fmt.Errorf("unbalanced ')' in selector %q", s)
				}
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		if depth != 0 {
			return nil, fmt.Errorf("unbalanced '(' in selector %q", s)
		}
		part := strings.TrimSpace(s[start:i])
		start = i + 1
		if part == "" {
			if i == len(s) && len(sel) == 0 && strings.TrimSpace(s) == "" {
				break
			}
			return nil, fmt.Errorf("empty requirement in selector %q", s)
		}
		r, err := parseRequirement(part)
		if err != nil {
			return nil, err
		}
		sel = append(sel, r)
	}
	return sel, nil
}

func parseRequirement(s string) (Requirement, error) {
	if rest, ok := strings.CutPrefix(s, "!"); ok {
		k := strings.TrimSpace(rest)
		if err := checkLabel(k, true); err != nil {
			return Requirement{}, fmt.Errorf("requirement %q: %w", s, err)
		}
		return Requirement{Key: k, Op: OpNotExists}, nil
	}
	i := 0
	for i < len(s) && labelChar(s[i], true) {
		i++
	}
	key, rest := s[:i], strings.TrimSpace(s[i:])
	if err := checkLabel(key, true); err != nil {
		return Requirement{}, fmt.Errorf("requirement %q: %w", s, err)
	}
	value := func(op Op, v string) (Requirement, error) {
		v = strings.TrimSpace(v)
		if err := checkLabel(v, false); err != nil {
			return Requirement{}, fmt.Errorf("requirement %q: %w", s, err)
		}
		return Requirement{Key: key, Op: op, Values: []string{v}}, nil
	}
	set := func(op Op, v string) (Requirement, error) {
		v = strings.TrimSpace(v)
		if !strings.HasPrefix(v, "(") || !strings.HasSuffix(v, ")") {
			return Requirement{}, fmt.Errorf("requirement %q: want a list in parentheses", s)
		}
		var vals []string
		for _, x := range strings.Split(v[1:len(v)-1], ",") {
			x = strings.TrimSpace(x)
			if x == "" {
				return Requirement{}, fmt.Errorf("requirement %q: empty value in the list", s)
			}
			if err := checkLabel(x, false); err != nil {
				return Requirement{}, fmt.Errorf("requirement %q: %w", s, err)
			}
			vals = append(vals, x)
		}
		slices.Sort(vals)
		return Requirement{Key: key, Op: op, Values: slices.Compact(vals)}, nil
	}
	switch {
	case rest == "exists":
		return Requirement{Key: key, Op: OpExists}, nil
	case strings.HasPrefix(rest, "!="):
		return value(OpNotEquals, rest[2:])
	case strings.HasPrefix(rest, "=="):
		return value(OpEquals, rest[2:])
	case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, ":"):
		return value(OpEquals, rest[1:])
	case strings.HasPrefix(rest, "notin") && len(rest) > 5 && (rest[5] == ' ' || rest[5] == '('):
		return set(OpNotIn, rest[5:])
	case strings.HasPrefix(rest, "in") && len(rest) > 2 && (rest[2] == ' ' || rest[2] == '('):
		return set(OpIn, rest[2:])
	}
	return Requirement{}, fmt.Errorf("requirement %q: want 'key: value', 'key != value', 'key in (...)', 'key notin (...)', 'key exists' or '!key'", s)
}
