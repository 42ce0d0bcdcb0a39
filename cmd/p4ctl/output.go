package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// The output contract. Every command that prints objects or status takes
// -o with some of these formats (the first it lists is its default) and
// refuses the others, naming its own:
//
//   - table: columns for people (or, for one thing, labelled lines);
//   - wide: table with more columns;
//   - json: indented JSON; a list is a list even when empty ([]), field
//     names are snake_case and stable; a stream (watch, --follow) is one
//     object per line;
//   - yaml: the same objects as json, field for field (printYAML goes
//     through JSON); declared objects are policy documents, which
//     validate and apply take, so a list of them is a stream of
//     documents; a stream is one document per event;
//   - name: KIND/NAME per line, as delete takes them.
//
// Errors go to standard error and exit 1 (main.go).

// Format is an output format, the value of -o.
type Format string

// The formats, in the order they are listed.
const (
	FormatTable Format = "table"
	FormatWide  Format = "wide"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
	FormatName  Format = "name"
)

// formatError refuses a format, naming the ones the command takes.
type formatError struct {
	value string
	want  []Format
	what  string // the command, when the format exists but not for it
}

func (e *formatError) Error() string {
	if e.what != "" {
		return fmt.Sprintf("output format %q does not apply to %s: want one of %s", e.value, e.what, formatList(e.want))
	}
	return fmt.Sprintf("unknown output format %q: want one of %s", e.value, formatList(e.want))
}

func formatList(fs []Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// parseFormat reads s as one of want. "text", which several commands
// took before table named the same thing everywhere, is table.
func parseFormat(s string, want []Format) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if f == "text" && slices.Contains(want, FormatTable) {
		f = FormatTable
	}
	if !slices.Contains(want, f) {
		return "", &formatError{value: s, want: want}
	}
	return f, nil
}

// outputFlag is a command's -o: a pflag.Value that takes only the
// command's formats, so that anything else is refused while the flags
// are parsed, before any work or dialling. A command whose formats
// depend on its arguments (get) defers the check to only.
type outputFlag struct {
	formats  []Format
	f        Format
	deferred bool
	raw      string // the value given, when deferred
}

func (o *outputFlag) String() string { return string(o.f) }

func (o *outputFlag) Set(s string) error {
	if o.deferred {
		o.raw = s
		return nil
	}
	f, err := parseFormat(s, o.formats)
	if err != nil {
		return err
	}
	o.f = f
	return nil
}

func (o *outputFlag) Type() string { return "format" }

// Format is the format given, or the default.
func (o *outputFlag) Format() Format { return o.f }

// only is the format given to a command that takes want for what it was
// asked (get links takes no name format), and refuses any other.
func (o *outputFlag) only(what string, want ...Format) (Format, error) {
	if o.raw == "" {
		o.raw = string(o.f)
	}
	f, err := parseFormat(o.raw, want)
	if err != nil {
		var fe *formatError
		if errors.As(err, &fe) && slices.Contains(o.formats, Format(strings.ToLower(o.raw))) {
			fe.what = what
		}
		return "", err
	}
	o.f = f
	return f, nil
}

// addOutput adds -o (--output) to cmd, taking formats; the first is the
// default. Completion offers them.
func addOutput(cmd *cobra.Command, formats ...Format) *outputFlag {
	return addOutputFlag(cmd, &outputFlag{formats: formats, f: formats[0]})
}

// addDeferredOutput is addOutput for a command that checks the format
// with only, once it knows what it prints.
func addDeferredOutput(cmd *cobra.Command, formats ...Format) *outputFlag {
	return addOutputFlag(cmd, &outputFlag{formats: formats, f: formats[0], deferred: true})
}

func addOutputFlag(cmd *cobra.Command, o *outputFlag) *outputFlag {
	formats := o.formats
	cmd.Flags().VarP(o, "output", "o", "output format: "+formatList(formats))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		s := make([]string, len(formats))
		for i, f := range formats {
			s[i] = string(f)
		}
		return s, cobra.ShellCompDirectiveNoFileComp
	})
	return o
}

// printData prints v as JSON or YAML; f is one of the two.
func printData(w io.Writer, f Format, v any) error {
	if f == FormatYAML {
		return printYAML(w, v)
	}
	return printJSON(w, v)
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printJSONLine prints v as JSON on one line: an event of a stream.
func printJSONLine(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// printYAML prints v as YAML: its JSON, field for field and in the same
// order, in block style.
func printYAML(w io.Writer, v any) error {
	n, err := yamlOf(v)
	if err != nil {
		return err
	}
	return encodeYAML(w, n)
}

// printYAMLDoc prints v as one YAML document of a stream.
func printYAMLDoc(w io.Writer, v any) error {
	if _, err := io.WriteString(w, "---\n"); err != nil {
		return err
	}
	return printYAML(w, v)
}

// printEvent prints one event of a stream: a JSON line or a YAML
// document.
func printEvent(w io.Writer, f Format, v any) error {
	if f == FormatYAML {
		return printYAMLDoc(w, v)
	}
	return printJSONLine(w, v)
}

// yamlOf is v's JSON as a YAML node tree in block style.
func yamlOf(v any) (*yaml.Node, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b.Bytes(), &n); err != nil {
		return nil, err
	}
	setStyle(&n, 0)
	return &n, nil
}

// setStyle sets the style of n and everything under it.
func setStyle(n *yaml.Node, s yaml.Style) {
	n.Style = s
	for _, c := range n.Content {
		setStyle(c, s)
	}
}

func encodeYAML(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}

// printNames prints one KIND/NAME a line.
func printNames(w io.Writer, names []string) error {
	for _, n := range names {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

// objectName is an object's KIND/NAME: "segment/prod", "port/leaf1/3".
func objectName(o policy.Object) string { return refName(o.Ref()) }

// refName is the KIND/NAME of a ref ("Port leaf1/3").
func refName(ref string) string {
	kind, name, _ := strings.Cut(ref, " ")
	return strings.ToLower(kind) + "/" + name
}

// docJSON is a YAML document as JSON, its fields in the document's
// order: how a declared object is printed in JSON.
type docJSON struct{ n *yaml.Node }

// MarshalJSON writes the node tree as JSON.
func (d docJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeNodeJSON(&b, d.n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeNodeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			b.WriteString("null")
			return nil
		}
		return writeNodeJSON(b, n.Content[0])
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			if err := writeNodeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeNodeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.AliasNode:
		return writeNodeJSON(b, n.Alias)
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		j, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(j)
	}
	return nil
}

// documentOf is one object's policy document as a node tree.
func documentOf(o policy.Object) (*yaml.Node, error) {
	return parseDocument(string(policy.Marshal([]policy.Object{o})))
}

// parseDocument reads one YAML document into a node tree (its root
// content; nil for an empty document).
func parseDocument(doc string) (*yaml.Node, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		return nil, err
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0], nil
	}
	return &n, nil
}

// documentsJSON are objects as JSON: a list of their documents.
func documentsJSON(objs []policy.Object) ([]docJSON, error) {
	out := []docJSON{}
	for _, o := range objs {
		n, err := documentOf(o)
		if err != nil {
			return nil, err
		}
		out = append(out, docJSON{n})
	}
	return out, nil
}

// printObjects prints declared objects as documents in yaml (what apply
// takes), their list in json, or their names.
func printObjects(w io.Writer, f Format, objs []policy.Object) error {
	switch f {
	case FormatYAML:
		_, err := w.Write(policy.Marshal(objs))
		return err
	case FormatName:
		names := make([]string, len(objs))
		for i, o := range objs {
			names[i] = objectName(o)
		}
		return printNames(w, names)
	}
	docs, err := documentsJSON(objs)
	if err != nil {
		return err
	}
	return printJSON(w, docs)
}

// cookieString is how a pipeline cookie is printed everywhere: 0x and 16
// hex digits.
func cookieString(c uint64) string { return fmt.Sprintf("%#016x", c) }
