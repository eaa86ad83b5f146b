package flowedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// The Studio's form reads a flow file as JSON and writes a new one from
// JSON; the YAML on both sides is read and written here, by yaml.v3, so
// the browser never parses YAML and what the form shows is what the
// server's parser reads.

// DocError is a flow file the form cannot show as JSON (it may still be
// a good flow: the YAML tab edits it as text).
type DocError struct{ msg string }

func (e *DocError) Error() string { return e.msg }

// Doc returns a flow file's first document as JSON, keys in the order
// they are written (a JSON object's keys keep their order in the
// browser). Scalars keep their YAML types; a timestamp stays the text it
// was written as. Aliases are read as what they point to. Merge keys and
// keys that are not text are DocErrors.
func Doc(src []byte) (json.RawMessage, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &DocError{"the flow file is empty"}
		}
		return nil, &DocError{fmt.Sprintf("the flow file is not valid YAML: %v", err)}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &DocError{"a flow file is a mapping (name:, steps:, ...)"}
	}
	var b bytes.Buffer
	w := jsonWriter{b: &b, left: maxNodes}
	if err := w.write(doc.Content[0], 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Aliases can make a small file a large or deep tree (each level of
// aliases to aliases doubles it): Doc follows at most maxNodes nodes and
// maxDepth levels.
const (
	maxNodes = 100_000
	maxDepth = 64
)

type jsonWriter struct {
	b    *bytes.Buffer
	left int // nodes Doc may still write
}

func (w *jsonWriter) write(n *yaml.Node, depth int) error {
	b := w.b
	if depth > maxDepth {
		return &DocError{fmt.Sprintf("line %d: nested more than %d levels deep", n.Line, maxDepth)}
	}
	if w.left--; w.left < 0 {
		return &DocError{fmt.Sprintf("line %d: more than %d values (aliases expanded)", n.Line, maxNodes)}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return w.write(n.Alias, depth+1)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Tag == "!!merge" {
				return &DocError{fmt.Sprintf("line %d: merge keys (<<) are not shown in the form", k.Line)}
			}
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
				return &DocError{fmt.Sprintf("line %d: a key that is not text is not shown in the form", k.Line)}
			}
			if i > 0 {
				b.WriteByte(',')
			}
			key, _ := json.Marshal(k.Value)
			b.Write(key)
			b.WriteByte(':')
			if err := w.write(v, depth+1); err != nil {
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
			if err := w.write(c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		v, err := scalar(n)
		if err != nil {
			return err
		}
		out, err := json.Marshal(v)
		if err != nil {
			return &DocError{fmt.Sprintf("line %d: %v", n.Line, err)}
		}
		b.Write(out)
	default:
		return &DocError{fmt.Sprintf("line %d: unexpected YAML node", n.Line)}
	}
	return nil
}

// scalar is a scalar's value as JSON has it: numbers that JSON cannot
// hold (inf, nan) and timestamps stay text.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool", "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, &DocError{fmt.Sprintf("line %d: %v", n.Line, err)}
		}
		return v, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, &DocError{fmt.Sprintf("line %d: %v", n.Line, err)}
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return n.Value, nil
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	return n.Value, nil
}

// topOrder is where a new file's top-level keys go, whatever order the
// form made them in: what the flow is, what it takes, what starts it,
// then what it does.
var topOrder = []string{"name", "description", "inputs", "trigger", "max_concurrent_runs", "history_detail", "steps"}

// Render writes a whole flow file from its JSON form (a new flow, or one
// whose edit cannot be made as operations on its file): block style, two
// spaces, top-level keys in topOrder, then any others as given.
func Render(doc []byte) ([]byte, error) {
	n, err := NodeFromJSON(doc)
	if err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("a flow is a JSON object (name, steps, ...)")
	}
	var ordered []*yaml.Node
	taken := map[int]bool{}
	for _, key := range topOrder {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !taken[i] && n.Content[i].Value == key {
				ordered = append(ordered, n.Content[i], n.Content[i+1])
				taken[i] = true
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !taken[i] {
			ordered = append(ordered, n.Content[i], n.Content[i+1])
		}
	}
	n.Content = ordered
	text, err := render(n, "")
	return []byte(text), err
}
