package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on input, so that a huge or hostile file is refused with an error
// instead of exhausting memory.
const (
	// MaxFileBytes is the largest file Parse reads.
	MaxFileBytes = 256 << 20
	// MaxDocumentBytes is the largest single document.
	MaxDocumentBytes = 1 << 20
	// maxErrors is how many errors one Parse reports before giving up.
	maxErrors = 50
)

// Error is a problem with one document, naming where it is and which field.
type Error struct {
	Src   Source
	Doc   string // "Endpoint web-1", or "document 3" before the name is known
	Field string // "rules[1].ports[0]"; empty for the whole document
	Msg   string
	// Err is the kind of error, for errors.Is (ErrNotFound); nil for a
	// plain validation error.
	Err error
}

// ErrNotFound is the kind of an error about an object the model does not
// hold (a deletion of it).
var ErrNotFound = errors.New("not found")

// Unwrap is the error's kind.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Src.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Doc != "" {
		b.WriteString(e.Doc)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found, in file order.
type Errors []*Error

// Unwrap lets errors.Is and errors.As look at every error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Parse reads the documents of one file (separated by "---" lines). Every
// problem is reported, each naming the file, line, document and field;
// when there is any, no object is returned.
func Parse(file string, r io.Reader) ([]Object, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{Src: Source{File: file}, Msg: fmt.Sprintf("file is larger than %d MiB", MaxFileBytes>>20)}
	}
	var objs []Object
	var errs Errors
	for i, d := range splitDocuments(data) {
		if len(errs) >= maxErrors {
			errs = append(errs, &Error{Src: Source{File: file}, Msg: "too many errors; stopped"})
			break
		}
		dc := &decoder{file: file, base: d.line - 1, doc: fmt.Sprintf("document %d", i+1)}
		if len(d.text) > MaxDocumentBytes {
			dc.failAt(d.line, "", "document is %d bytes; the limit is %d", len(d.text), MaxDocumentBytes)
			errs = append(errs, dc.errs...)
			continue
		}
		var root yaml.Node
		if err := yaml.Unmarshal(d.text, &root); err != nil {
			dc.failAt(d.line+yamlErrLine(err), "", "%s", yamlErrMsg(err))
			errs = append(errs, dc.errs...)
			continue
		}
		if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null" {
			continue // only comments
		}
		if o := dc.object(root.Content[0]); o != nil && len(dc.errs) == 0 {
			objs = append(objs, o)
		}
		errs = append(errs, dc.errs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return objs, nil
}

type document struct {
	text []byte
	line int // first line, 1-based
}

// splitDocuments cuts data at "---" and "..." lines at column 0, which end
// a YAML document wherever they appear.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, line := 1, 0
	flush := func(next int) {
		if bytes.TrimSpace(cur.Bytes()) != nil && len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, document{text: bytes.Clone(cur.Bytes()), line: start})
		}
		cur.Reset()
		start = next
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxFileBytes+1)
	for sc.Scan() {
		line++
		l := sc.Bytes()
		if isMarker(l, "---") || isMarker(l, "...") {
			flush(line + 1)
			if rest := bytes.TrimSpace(l[3:]); len(rest) > 0 && rest[0] != '#' {
				// "--- value" starts a document on the marker line.
				cur.Write(l[3:])
				cur.WriteByte('\n')
				start = line
			}
			continue
		}
		cur.Write(l)
		cur.WriteByte('\n')
	}
	flush(line + 1)
	return docs
}

func isMarker(l []byte, m string) bool {
	return bytes.HasPrefix(l, []byte(m)) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r')
}

// yamlErrLine and yamlErrMsg take the line out of a yaml error message
// ("yaml: line 3: mapping values are not allowed in this context").
func yamlErrLine(err error) int {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "line "); ok {
		if n, _, ok := strings.Cut(rest, ":"); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return v - 1
			}
		}
	}
	return 0
}

func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(msg, "line "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			return "malformed YAML: " + after
		}
	}
	return "malformed YAML: " + msg
}

// decoder turns one document's node tree into an object, strictly.
type decoder struct {
	file string
	base int // line offset of the document in the file
	doc  string
	errs Errors
}

func (d *decoder) failAt(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{Src: Source{File: d.file, Line: line}, Doc: d.doc, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.failAt(d.base+n.Line, field, format, args...)
}

func (d *decoder) src(n *yaml.Node) Source { return Source{File: d.file, Line: d.base + n.Line} }

// fields maps each key of a mapping to its value node, refusing unknown
// and repeated keys and aliases.
func (d *decoder) fields(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", kindName(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain strings")
			continue
		}
		name := join(path, k.Value)
		if v.Kind == yaml.AliasNode || k.Kind == yaml.AliasNode {
			d.fail(v, name, "YAML aliases are not supported")
			continue
		}
		if !slices.Contains(known, k.Value) {
			d.fail(k, name, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.fail(k, name, "given twice")
			continue
		}
		out[k.Value] = v
	}
	return out
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.fail(n, field, "want a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) uint(n *yaml.Node, field string, max uint64) (uint64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.fail(n, field, "want a number, got %s", kindName(n))
		return 0, false
	}
	v, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || v > max {
		d.fail(n, field, "%s is out of range (0-%d)", n.Value, max)
		return 0, false
	}
	return v, true
}

func (d *decoder) bool(n *yaml.Node, field string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.fail(n, field, "want true or false, got %s", kindName(n))
		return false, false
	}
	v, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		d.fail(n, field, "want true or false, got %q", n.Value)
		return false, false
	}
	return v, true
}

func (d *decoder) list(n *yaml.Node, field string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, field, "want a list, got %s", kindName(n))
		return nil
	}
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			d.fail(c, field, "YAML aliases are not supported")
			return nil
		}
	}
	return n.Content
}

// name checks an object name: letters, digits, '-', '_', '.', at most 253.
func (d *decoder) name(n *yaml.Node, field string) (string, bool) {
	s, ok := d.str(n, field)
	if !ok {
		return "", false
	}
	if err := checkName(s); err != nil {
		d.fail(n, field, "%v", err)
		return "", false
	}
	return s, true
}

func checkName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > 253 {
		return fmt.Errorf("name %.20q... is longer than 253 characters", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !labelChar(c, false) {
			return fmt.Errorf("name %q: character %q is not allowed (letters, digits, '-', '_', '.')", s, c)
		}
	}
	return nil
}

func (d *decoder) object(n *yaml.Node) Object {
	if n.Kind != yaml.MappingNode {
		d.fail(n, "", "a document must be a mapping with a kind, got %s", kindName(n))
		return nil
	}
	var kind *yaml.Node
	top := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			kind = n.Content[i+1]
		}
		if v := n.Content[i+1]; v.Kind == yaml.ScalarNode {
			top[n.Content[i].Value] = v.Value
		}
	}
	// Name the document in errors from the start, if it says its name.
	if kind != nil && kind.Kind == yaml.ScalarNode && slices.Contains([]string{KindDevice, KindSegment, KindPort, KindEndpoint, KindPolicy}, kind.Value) {
		switch {
		case kind.Value == KindPort && top["device"] != "" && top["port"] != "":
			d.doc = KindPort + " " + top["device"] + "/" + top["port"]
		case top["name"] != "" && checkName(top["name"]) == nil:
			d.doc = kind.Value + " " + top["name"]
		}
	}
	if kind == nil {
		d.fail(n, "kind", "missing (one of Device, Segment, Port, Endpoint, Policy)")
		return nil
	}
	k, _ := d.str(kind, "kind")
	switch k {
	case KindDevice:
		return d.device(n)
	case KindSegment:
		return d.segment(n)
	case KindPort:
		return d.port(n)
	case KindEndpoint:
		return d.endpoint(n)
	case KindPolicy:
		return d.policy(n)
	case "":
		return nil
	}
	d.fail(kind, "kind", "unknown kind %q (one of Device, Segment, Port, Endpoint, Policy)", k)
	return nil
}

// named reads the document's name first, so that every later error names
// the object.
func (d *decoder) named(n *yaml.Node, f map[string]*yaml.Node) string {
	v, ok := f["name"]
	if !ok {
		d.fail(n, "name", "required")
		return ""
	}
	name, _ := d.name(v, "name")
	return name
}

func (d *decoder) required(n *yaml.Node, f map[string]*yaml.Node, names ...string) {
	for _, name := range names {
		if _, ok := f[name]; !ok {
			d.fail(n, name, "required")
		}
	}
}

func (d *decoder) device(n *yaml.Node) Object {
	f := d.fields(n, "", "kind", "name", "address", "device_id", "target", "gnmi")
	if f == nil {
		return nil
	}
	dev := &Device{DeviceID: 1, Target: "bmv2", Src: d.src(n)}
	dev.Name = d.named(n, f)
	d.doc = KindDevice + " " + dev.Name
	d.required(n, f, "address")
	if v, ok := f["address"]; ok {
		if s, ok := d.str(v, "address"); ok {
			if _, _, err := net.SplitHostPort(s); err != nil {
				d.fail(v, "address", "want host:port, got %q", s)
			}
			dev.Address = s
		}
	}
	if v, ok := f["device_id"]; ok {
		dev.DeviceID, _ = d.uint(v, "device_id", 1<<63)
	}
	if v, ok := f["target"]; ok {
		dev.Target, _ = d.str(v, "target")
	}
	if v, ok := f["gnmi"]; ok {
		if s, ok := d.str(v, "gnmi"); ok {
			if _, _, err := net.SplitHostPort(s); err != nil {
				d.fail(v, "gnmi", "want host:port, got %q", s)
			}
			dev.GNMI = s
		}
	}
	return dev
}

func (d *decoder) segment(n *yaml.Node) Object {
	f := d.fields(n, "", "kind", "name", "id", "default")
	if f == nil {
		return nil
	}
	s := &Segment{Src: d.src(n)}
	s.Name = d.named(n, f)
	d.doc = KindSegment + " " + s.Name
	d.required(n, f, "id")
	if v, ok := f["id"]; ok {
		if id, ok := d.uint(v, "id", 65535); ok {
			if id == 0 {
				d.fail(v, "id", "0 is reserved; use 1-65535")
			}
			s.ID = uint16(id)
		}
	}
	if v, ok := f["default"]; ok {
		switch x, _ := d.str(v, "default"); x {
		case "deny":
		case "allow":
			s.DefaultAllow = true
		case "":
		default:
			d.fail(v, "default", "want deny or allow, got %q", x)
		}
	}
	return s
}

func (d *decoder) port(n *yaml.Node) Object {
	f := d.fields(n, "", "kind", "device", "port", "segment", "role", "community", "punt_arp")
	if f == nil {
		return nil
	}
	p := &Port{Src: d.src(n)}
	d.required(n, f, "device", "port", "segment", "role")
	if v, ok := f["device"]; ok {
		p.Device, _ = d.name(v, "device")
	}
	if v, ok := f["port"]; ok {
		port, _ := d.uint(v, "port", 1<<32-1)
		p.Port = uint32(port)
	}
	d.doc = p.Ref()
	if v, ok := f["segment"]; ok {
		p.Segment, _ = d.name(v, "segment")
	}
	if v, ok := f["role"]; ok {
		s, _ := d.str(v, "role")
		found := false
		for r, name := range roleNames {
			if s == name {
				p.Role, found = r, true
			}
		}
		if !found && s != "" {
			d.fail(v, "role", "want isolated, community, promiscuous or uplink, got %q", s)
		}
	}
	if v, ok := f["community"]; ok {
		c, ok := d.uint(v, "community", 65535)
		if ok && p.Role != RoleCommunity {
			d.fail(v, "community", "only community ports have a community (role is %s)", p.Role)
		}
		p.Community = uint16(c)
	} else if p.Role == RoleCommunity {
		d.fail(n, "community", "required for a community port")
	}
	if v, ok := f["punt_arp"]; ok {
		p.PuntARP, _ = d.bool(v, "punt_arp")
	}
	return p
}

func (d *decoder) endpoint(n *yaml.Node) Object {
	f := d.fields(n, "", "kind", "name", "segment", "mac", "ips", "device", "port", "host", "labels")
	if f == nil {
		return nil
	}
	e := &Endpoint{Src: d.src(n), Labels: map[string]string{}}
	e.Name = d.named(n, f)
	d.doc = KindEndpoint + " " + e.Name
	d.required(n, f, "segment", "mac")
	_, hasDev := f["device"]
	_, hasPort := f["port"]
	switch v, hasHost := f["host"]; {
	case hasHost && (hasDev || hasPort):
		d.fail(v, "host", "give either host (placed where the host is seen) or device and port, not both")
	case hasHost:
		if s, ok := d.str(v, "host"); ok {
			if s == "" || len(s) > 255 || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
				d.fail(v, "host", "want the host's LLDP system name (1-255 printable characters), got %q", s)
			} else {
				e.Host = s
			}
		}
	default:
		d.required(n, f, "device", "port")
	}
	if v, ok := f["segment"]; ok {
		e.Segment, _ = d.name(v, "segment")
	}
	if v, ok := f["mac"]; ok {
		if s, ok := d.str(v, "mac"); ok {
			mac, err := net.ParseMAC(s)
			switch {
			case err != nil || len(mac) != 6:
				d.fail(v, "mac", "want a 48-bit MAC like 02:00:00:00:00:01, got %q", s)
			case mac[0]&1 == 1:
				d.fail(v, "mac", "%s is a multicast address", s)
			case bytes.Equal(mac, make([]byte, 6)):
				d.fail(v, "mac", "the all-zero MAC is not an endpoint's")
			default:
				e.MAC = mac
			}
		}
	}
	if v, ok := f["ips"]; ok {
		for i, x := range d.list(v, "ips") {
			field := fmt.Sprintf("ips[%d]", i)
			s, ok := d.str(x, field)
			if !ok {
				continue
			}
			a, err := netip.ParseAddr(s)
			switch {
			case err != nil || a.Zone() != "":
				d.fail(x, field, "want an IPv4 or IPv6 address, got %q", s)
				continue
			case a.Is4In6():
				a = a.Unmap()
			}
			if a.IsUnspecified() || a.IsMulticast() {
				d.fail(x, field, "%s cannot be an endpoint's address", a)
				continue
			}
			if slices.Contains(e.IPs, a) {
				d.fail(x, field, "%s is listed twice", a)
				continue
			}
			e.IPs = append(e.IPs, a)
		}
	}
	if v, ok := f["device"]; ok {
		e.Device, _ = d.name(v, "device")
	}
	if v, ok := f["port"]; ok {
		port, _ := d.uint(v, "port", 1<<32-1)
		e.Port = uint32(port)
	}
	if v, ok := f["labels"]; ok {
		if v.Kind != yaml.MappingNode {
			d.fail(v, "labels", "want a mapping of label: value, got %s", kindName(v))
		} else {
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				field := "labels." + k.Value
				if err := checkLabel(k.Value, true); err != nil {
					d.fail(k, field, "%v", err)
					continue
				}
				s, ok := d.str(val, field)
				if !ok {
					continue
				}
				if err := checkLabel(s, false); err != nil {
					d.fail(val, field, "%v", err)
					continue
				}
				if _, dup := e.Labels[k.Value]; dup {
					d.fail(k, field, "given twice")
					continue
				}
				e.Labels[k.Value] = s
			}
		}
	}
	return e
}

func (d *decoder) selector(n *yaml.Node, field string) Selector {
	var sel Selector
	add := func(x *yaml.Node, s string) {
		got, err := ParseSelector(s)
		if err != nil {
			d.fail(x, field, "%v", err)
			return
		}
		sel = append(sel, got...)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		add(n, n.Value)
	case yaml.SequenceNode:
		for i, x := range d.list(n, field) {
			if s, ok := d.str(x, fmt.Sprintf("%s[%d]", field, i)); ok {
				add(x, s)
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := checkLabel(k.Value, true); err != nil {
				d.fail(k, field+"."+k.Value, "%v", err)
				continue
			}
			s, ok := d.str(v, field+"."+k.Value)
			if !ok {
				continue
			}
			if err := checkLabel(s, false); err != nil {
				d.fail(v, field+"."+k.Value, "%v", err)
				continue
			}
			sel = append(sel, Requirement{Key: k.Value, Op: OpEquals, Values: []string{s}})
		}
	default:
		d.fail(n, field, "want a selector (a string, a list or a mapping), got %s", kindName(n))
	}
	if sel == nil {
		sel = Selector{}
	}
	return sel
}

func (d *decoder) cidrs(n *yaml.Node, field string) []netip.Prefix {
	var out []netip.Prefix
	for i, x := range d.list(n, field) {
		f := fmt.Sprintf("%s[%d]", field, i)
		s, ok := d.str(x, f)
		if !ok {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				d.fail(x, f, "want an address or prefix like 10.0.0.0/8 or 2001:db8::/32, got %q", s)
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Masked() != p {
			d.fail(x, f, "%s has host bits set (did you mean %s?)", p, p.Masked())
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 && len(d.errs) == 0 {
		d.fail(n, field, "empty list")
	}
	return out
}

var protoNames = map[string]int{"any": ProtoAny, "tcp": ProtoTCP, "udp": ProtoUDP, "icmp": ProtoICMP, "icmpv6": ProtoICMPv6}

// ProtoName is the name rules use for an IP protocol number.
func ProtoName(p int) string {
	for name, v := range protoNames {
		if v == p {
			return name
		}
	}
	return strconv.Itoa(p)
}

func (d *decoder) rule(n *yaml.Node, field string) (Rule, bool) {
	f := d.fields(n, field, "proto", "ports", "action")
	if f == nil {
		return Rule{}, false
	}
	r := Rule{Proto: ProtoAny, Action: ActionAllow}
	before := len(d.errs)
	if v, ok := f["proto"]; ok {
		s, _ := d.str(v, field+".proto")
		p, known := protoNames[strings.ToLower(s)]
		if !known && s != "" {
			d.fail(v, field+".proto", "want tcp, udp, icmp, icmpv6 or any, got %q", s)
		}
		r.Proto = p
		if !known {
			r.Proto = ProtoAny
		}
	}
	if v, ok := f["ports"]; ok {
		if r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			d.fail(v, field+".ports", "ports need proto tcp or udp (proto is %s)", ProtoName(r.Proto))
		}
		for i, x := range d.list(v, field+".ports") {
			pf := fmt.Sprintf("%s.ports[%d]", field, i)
			pr, err := parsePortRange(x)
			if err != nil {
				d.fail(x, pf, "%v", err)
				continue
			}
			r.Ports = append(r.Ports, pr)
		}
		if len(r.Ports) == 0 && len(d.errs) == before {
			d.fail(v, field+".ports", "empty list (leave ports out to match every port)")
		}
	}
	if v, ok := f["action"]; ok {
		s, _ := d.str(v, field+".action")
		switch s {
		case "allow":
			r.Action = ActionAllow
		case "deny":
			r.Action = ActionDeny
		case "punt":
			r.Action = ActionPunt
		case "":
		default:
			d.fail(v, field+".action", "want allow, deny or punt, got %q", s)
		}
	}
	return r, len(d.errs) == before
}

func parsePortRange(n *yaml.Node) (PortRange, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return PortRange{}, fmt.Errorf("want a port or a range like 8000-8080, got %s", kindName(n))
	}
	lo, hi, isRange := strings.Cut(n.Value, "-")
	p := func(s string) (uint16, error) {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil || v > 65535 {
			return 0, fmt.Errorf("%q is not a port (0-65535)", strings.TrimSpace(s))
		}
		return uint16(v), nil
	}
	l, err := p(lo)
	if err != nil {
		return PortRange{}, err
	}
	h := l
	if isRange {
		if h, err = p(hi); err != nil {
			return PortRange{}, err
		}
		if h < l {
			return PortRange{}, fmt.Errorf("range %s is backwards", n.Value)
		}
	}
	return PortRange{l, h}, nil
}

func (d *decoder) policy(n *yaml.Node) Object {
	f := d.fields(n, "", "kind", "name", "segment", "priority", "from", "to", "from_cidrs", "to_cidrs", "rules", "mode")
	if f == nil {
		return nil
	}
	p := &Policy{Priority: DefaultPriority, Src: d.src(n)}
	p.Name = d.named(n, f)
	d.doc = KindPolicy + " " + p.Name
	d.required(n, f, "segment", "rules")
	if v, ok := f["segment"]; ok {
		p.Segment, _ = d.name(v, "segment")
	}
	if v, ok := f["priority"]; ok {
		pr, _ := d.uint(v, "priority", MaxPriority)
		p.Priority = int(pr)
	}
	if v, ok := f["mode"]; ok {
		d.policyMode(v, p)
	}
	for _, side := range []struct {
		sel, cidrs string
		selOut     *Selector
		cidrOut    *[]netip.Prefix
	}{{"from", "from_cidrs", &p.From, &p.FromCIDRs}, {"to", "to_cidrs", &p.To, &p.ToCIDRs}} {
		s, hasSel := f[side.sel]
		c, hasCIDR := f[side.cidrs]
		switch {
		case hasSel && hasCIDR:
			d.fail(c, side.cidrs, "give %s or %s, not both", side.sel, side.cidrs)
		case hasSel:
			*side.selOut = d.selector(s, side.sel)
		case hasCIDR:
			*side.cidrOut = d.cidrs(c, side.cidrs)
		default:
			d.fail(n, side.sel, "required (a selector; or %s)", side.cidrs)
		}
	}
	if len(p.FromCIDRs) > 0 && len(p.ToCIDRs) > 0 {
		d.fail(n, "to_cidrs", "one side must select endpoints: from_cidrs and to_cidrs together would be a rule about no endpoint")
	}
	if v, ok := f["rules"]; ok {
		rules := d.list(v, "rules")
		if len(rules) == 0 && v.Kind == yaml.SequenceNode {
			d.fail(v, "rules", "empty list")
		}
		for i, x := range rules {
			if r, ok := d.rule(x, fmt.Sprintf("rules[%d]", i)); ok {
				p.Rules = append(p.Rules, r)
			}
		}
	}
	return p
}
