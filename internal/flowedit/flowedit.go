// Package flowedit changes a flow file's YAML the way a person would: one
// step or one top-level key at a time, leaving every other byte as it was.
//
// The edits work on the yaml.v3 node tree, never on a re-marshalled struct;
// the file is then written back by splicing: the text of each untouched
// top-level key and each untouched step is copied from the source as it
// was (comments, blank lines, quoting and key order included, moved steps
// too), and only what an edit replaced is rendered anew. A rendered step
// keeps the key order and the comments of the step it replaces where the
// keys are the same. A file whose top level or steps are in flow style
// ({...} or [...]) cannot be spliced and is rendered whole by yaml.v3,
// which keeps comments but not blank lines.
package flowedit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Editable top-level keys: steps change through the step operations.
var topKeys = []string{"name", "description", "inputs", "trigger", "max_concurrent_runs", "history_detail"}

// piece is the text of one block of lines: the comment lines just above it
// (head), the block itself (body) and the blank or outdented comment lines
// after it that belong to no block (gap).
type piece struct{ head, body, gap string }

// editor is a flow file being edited.
type editor struct {
	root *yaml.Node // the document node
	top  *yaml.Node // its mapping
	// pairs are the top-level keys and values, in order, as edited.
	pairs [][2]*yaml.Node
	// items are the steps, in order, as edited (nil: no steps key).
	items []*yaml.Node

	// What the source was, for splicing; spliced is false when the
	// source is in flow style and is rendered whole.
	spliced   bool
	preamble  string
	keyPieces map[*yaml.Node]piece // by key node
	origValue map[*yaml.Node]*yaml.Node
	stepsKey  *yaml.Node
	stepsSeq  *yaml.Node
	// stepsHeader is the steps key's text up to the first step; indent
	// the steps' dash indentation.
	stepsHeader string
	indent      string
	itemPieces  map[*yaml.Node]piece
	origItems   []*yaml.Node
	// replaced are rendered steps that took an old step's place, with
	// its piece: they keep its head comment lines.
	replaced map[*yaml.Node]piece
}

func load(src []byte) (*editor, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(src)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the flow file is empty")
		}
		return nil, fmt.Errorf("the flow file is not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the flow file must be a mapping (name:, steps:, ...)")
	}
	e := &editor{root: &doc, top: doc.Content[0], keyPieces: map[*yaml.Node]piece{}, origValue: map[*yaml.Node]*yaml.Node{},
		itemPieces: map[*yaml.Node]piece{}, replaced: map[*yaml.Node]piece{}}
	for i := 0; i+1 < len(e.top.Content); i += 2 {
		k, v := e.top.Content[i], e.top.Content[i+1]
		e.pairs = append(e.pairs, [2]*yaml.Node{k, v})
		e.origValue[k] = v
		if k.Value == "steps" && v.Kind == yaml.SequenceNode && e.stepsKey == nil {
			e.stepsKey, e.stepsSeq = k, v
			e.items = append([]*yaml.Node(nil), v.Content...)
			e.origItems = append([]*yaml.Node(nil), v.Content...)
		}
	}
	e.spliced = e.split(src)
	return e, nil
}

// split cuts the source into the pieces of the top-level keys and of the
// steps; it reports false when the source cannot be spliced.
func (e *editor) split(src []byte) bool {
	if e.top.Style&yaml.FlowStyle != 0 || len(e.pairs) == 0 {
		return false
	}
	lines := strings.SplitAfter(string(src), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	anchors := make([]int, len(e.pairs))
	for i, kv := range e.pairs {
		anchors[i] = kv[0].Line - 1
		if kv[0].Column != 1 {
			return false
		}
	}
	first, pieces := cut(lines, 0, anchors, len(lines), 0)
	e.preamble = first
	for i, kv := range e.pairs {
		e.keyPieces[kv[0]] = pieces[i]
	}
	if e.stepsSeq == nil || len(e.origItems) == 0 {
		return true
	}
	if e.stepsSeq.Style&yaml.FlowStyle != 0 {
		return false
	}
	// The steps: their dashes line up at the sequence's column.
	col := e.stepsSeq.Column - 1
	anchors = anchors[:0]
	for _, it := range e.origItems {
		l := it.Line - 1
		if l >= len(lines) || len(lines[l]) <= col || lines[l][col] != '-' || strings.TrimLeft(lines[l][:col], " ") != "" {
			return false
		}
		anchors = append(anchors, l)
	}
	e.indent = strings.Repeat(" ", col)
	sp := e.keyPieces[e.stepsKey]
	start := e.stepsKey.Line - 1
	end := start + strings.Count(sp.body, "\n")
	if !strings.HasSuffix(sp.body, "\n") {
		end++
	}
	header, items := cut(lines, start, anchors, end, col)
	e.stepsHeader = header
	for i, it := range e.origItems {
		e.itemPieces[it] = items[i]
	}
	return true
}

// cut splits lines[from:end] at the anchors (line indexes, in order) into
// the text before the first block and one piece per anchor. Comment lines
// at exactly indent just above an anchor are its head; blank lines and
// comment lines at indent or less at the end of a block are its gap.
func cut(lines []string, from int, anchors []int, end, indent int) (string, []piece) {
	heads := make([]int, len(anchors))
	for i, a := range anchors {
		floor := from
		if i > 0 {
			floor = anchors[i-1] + 1
		}
		h := a
		for h-1 >= floor && isComment(lines[h-1]) && indentOf(lines[h-1]) == indent {
			h--
		}
		heads[i] = h
	}
	out := make([]piece, len(anchors))
	for i, a := range anchors {
		next := end
		if i+1 < len(anchors) {
			next = heads[i+1]
		}
		b := next
		for b-1 > a && (strings.TrimSpace(lines[b-1]) == "" || isComment(lines[b-1]) && indentOf(lines[b-1]) <= indent) {
			b--
		}
		out[i] = piece{head: join(lines[heads[i]:a]), body: join(lines[a:b]), gap: join(lines[b:next])}
	}
	return join(lines[from:heads[0]]), out
}

func isComment(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "#") }

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

func join(lines []string) string { return strings.Join(lines, "") }

// bytes writes the edited file: spliced when the source allows it and
// the spliced text means what the edited tree means (a guard against
// sources whose layout the splicing does not foresee), else whole.
func (e *editor) bytes() ([]byte, error) {
	e.build()
	if e.spliced {
		var want any
		if err := e.top.Decode(&want); err != nil {
			return nil, fmt.Errorf("read the edited flow: %w", err)
		}
		out, err := e.splice()
		if err == nil && means(out, want) {
			return out, nil
		}
	}
	return e.whole()
}

// build puts the edited keys and steps into the tree.
func (e *editor) build() {
	e.top.Content = nil
	for _, kv := range e.pairs {
		if kv[0] == e.stepsKey {
			kv[1].Content = e.items
		}
		e.top.Content = append(e.top.Content, kv[0], kv[1])
	}
}

// means reports whether text is YAML whose first document is want.
func means(text []byte, want any) bool {
	var got any
	if err := yaml.Unmarshal(text, &got); err != nil {
		return false
	}
	return reflect.DeepEqual(got, want)
}

func (e *editor) splice() ([]byte, error) {
	var b strings.Builder
	b.WriteString(e.preamble)
	for _, kv := range e.pairs {
		k, v := kv[0], kv[1]
		p, orig := e.keyPieces[k]
		switch {
		case orig && k == e.stepsKey && v == e.stepsSeq && len(e.origItems) > 0 && len(e.items) > 0:
			b.WriteString(p.head)
			if err := e.writeSteps(&b); err != nil {
				return nil, err
			}
			b.WriteString(p.gap)
		case orig && e.origValue[k] == v && (k != e.stepsKey || sameNodes(e.items, e.origItems)):
			b.WriteString(p.head + p.body + p.gap)
		default:
			key := *k // its comments around it stay in the text as they were
			key.HeadComment, key.FootComment = "", ""
			text, err := render(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{&key, v}}, "")
			if err != nil {
				return nil, err
			}
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
				b.WriteString("\n")
			}
			b.WriteString(p.head + text + p.gap)
		}
	}
	return []byte(b.String()), nil
}

// writeSteps writes the steps: each untouched one as it was, each new
// one rendered at the steps' indentation. The gaps between steps stay at
// their places; new places get the first gap when it is only blank lines.
func (e *editor) writeSteps(b *strings.Builder) error {
	b.WriteString(e.stepsHeader)
	gaps := make([]string, len(e.origItems))
	for i, it := range e.origItems {
		gaps[i] = e.itemPieces[it].gap
	}
	between := ""
	if len(gaps) > 1 && strings.TrimSpace(gaps[0]) == "" {
		between = gaps[0]
	}
	for i, it := range e.items {
		if p, ok := e.itemPieces[it]; ok {
			body := p.body
			if !strings.HasSuffix(body, "\n") {
				body += "\n"
			}
			b.WriteString(p.head + body)
		} else {
			text, err := render(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{it}}, e.indent)
			if err != nil {
				return err
			}
			if p, ok := e.replaced[it]; ok {
				text = p.head + text
			}
			b.WriteString(text)
		}
		switch {
		case i == len(e.items)-1:
			b.WriteString(gaps[len(gaps)-1])
		case i < len(gaps)-1:
			b.WriteString(gaps[i])
		default:
			b.WriteString(between)
		}
	}
	return nil
}

// whole renders the edited tree entirely (the source was in flow style).
func (e *editor) whole() ([]byte, error) {
	e.build()
	text, err := render(e.root, "")
	return []byte(text), err
}

// render encodes n with two-space indentation, each line after prefix.
func render(n *yaml.Node, prefix string) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return "", fmt.Errorf("write the YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("write the YAML: %w", err)
	}
	if prefix == "" {
		return b.String(), nil
	}
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, ""), nil
}

func sameNodes(a, b []*yaml.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// stepIndex returns the index of the step with id, or -1.
func (e *editor) stepIndex(id string) int {
	for i, it := range e.items {
		if it.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(it.Content); j += 2 {
			if it.Content[j].Value == "id" && it.Content[j+1].Value == id {
				return i
			}
		}
	}
	return -1
}

// equal reports whether two nodes hold the same data, whatever their
// style and comments.
func equal(a, b *yaml.Node) bool {
	var x, y any
	if a.Decode(&x) != nil || b.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// adopt makes n written like old where they agree: old's key order for the
// keys both have (new keys after them), and old's comments on keys and
// values that n has none of. Comments after a block (foot comments) are
// not carried: yaml.v3 puts them on nodes whose text may lie outside it.
func adopt(n, old *yaml.Node) {
	n.HeadComment, n.FootComment = "", ""
	adoptInner(n, old)
}

func adoptInner(n, old *yaml.Node) {
	if old == nil || n.Kind != old.Kind {
		return
	}
	if n.LineComment == "" {
		n.LineComment = old.LineComment
	}
	switch n.Kind {
	case yaml.MappingNode:
		oldVal := map[string][2]*yaml.Node{}
		var order []string
		for i := 0; i+1 < len(old.Content); i += 2 {
			oldVal[old.Content[i].Value] = [2]*yaml.Node{old.Content[i], old.Content[i+1]}
			order = append(order, old.Content[i].Value)
		}
		newPair := map[string][2]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			newPair[n.Content[i].Value] = [2]*yaml.Node{n.Content[i], n.Content[i+1]}
		}
		var content []*yaml.Node
		for _, k := range order {
			if p, ok := newPair[k]; ok {
				content = append(content, p[0], p[1])
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if _, ok := oldVal[n.Content[i].Value]; !ok {
				content = append(content, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = content
		for i := 0; i+1 < len(n.Content); i += 2 {
			o, ok := oldVal[n.Content[i].Value]
			if !ok {
				continue
			}
			if n.Content[i].HeadComment == "" {
				n.Content[i].HeadComment = o[0].HeadComment
			}
			if n.Content[i].LineComment == "" {
				n.Content[i].LineComment = o[0].LineComment
			}
			if equal(n.Content[i+1], o[1]) && n.Content[i+1].Kind != yaml.ScalarNode {
				// An unchanged list or mapping keeps its style too.
				n.Content[i+1] = withoutFoot(o[1])
				continue
			}
			adoptInner(n.Content[i+1], o[1])
		}
	case yaml.SequenceNode:
		for i := range min(len(n.Content), len(old.Content)) {
			adoptInner(n.Content[i], old.Content[i])
		}
	}
}

// withoutFoot is a copy of n without foot comments.
func withoutFoot(n *yaml.Node) *yaml.Node {
	c := *n
	c.FootComment = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = withoutFoot(x)
	}
	return &c
}

// blockStyle clears the flow and quoting styles of a node decoded from
// JSON, so that it is written as hand-written YAML is.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// stepID is a step node's id, "" if it has none.
func stepID(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == "id" {
			return n.Content[j+1].Value
		}
	}
	return ""
}

// keyIndex returns the index in pairs of a top-level key, or -1.
func (e *editor) keyIndex(key string) int {
	for i, kv := range e.pairs {
		if kv[0].Value == key {
			return i
		}
	}
	return -1
}

func checkTopKey(key string) error {
	for _, k := range topKeys {
		if k == key {
			return nil
		}
	}
	return fmt.Errorf("key %q: want one of %s (steps change one at a time)", key, strings.Join(topKeys, ", "))
}
