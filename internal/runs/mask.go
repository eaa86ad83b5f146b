package runs

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
)

// Masked is what the history keeps in place of a secret value.
const Masked = "***"

// SecretName reports whether a value named name (a flow input, a header, a
// key of trigger data or of a step's bundle) must not be kept in the run
// history. Flows declare no secret inputs, so the name is all there is to
// go by; a header's checksum ("...-MD5") is not the secret it checks.
func SecretName(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	for _, s := range []string{"authorization", "secret", "token", "password", "customer-key"} {
		if strings.Contains(n, s) && !strings.HasSuffix(n, "-md5") {
			return true
		}
	}
	return false
}

// Mask returns a copy of v in which the value of every secret-looking key
// (SecretName), at any depth of maps and lists, is Masked. It is the one
// rule for what the history keeps of inputs, trigger data and step
// bundles: every write of the Store applies it, whoever queued or ran the
// run (the CLI, the API, a webhook, a schedule or watch trigger).
func Mask(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	out := make(map[string]any, len(v))
	for k, x := range v {
		if SecretName(k) {
			out[k] = Masked
			continue
		}
		out[k] = maskValue(x)
	}
	return out
}

func maskValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return Mask(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskValue(e)
		}
		return out
	}
	return v
}

// record is v as the history stores it: JSON with secrets masked. v goes
// through JSON first so that no map or list type the masking does not know
// (a named map, a struct) can carry a secret past it.
func record(v map[string]any) string {
	if v == nil {
		return "{}"
	}
	if plain(v) {
		// Only types the masking walks: written masked as they are.
		w := plainWriters.Get().(*plainWriter)
		w.buf.Reset()
		err := w.write(v)
		out := w.buf.String()
		if w.buf.Cap() <= 64<<10 { // a rare huge bundle's buffer is not kept
			plainWriters.Put(w)
		}
		if err != nil {
			return unrecordable(err)
		}
		return out
	}
	return recordViaJSON(v)
}

// plainWriter writes a plain value, masked, as json.Marshal(Mask(v))
// would, without the copy Mask makes and the reflection Marshal needs
// for maps: the history records a few of these for every bundle.
type plainWriter struct {
	buf  bytes.Buffer
	enc  *json.Encoder
	keys []string
}

var plainWriters = sync.Pool{New: func() any {
	w := &plainWriter{}
	w.enc = json.NewEncoder(&w.buf)
	return w
}}

func (w *plainWriter) write(v any) error {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			w.buf.WriteString("null")
			return nil
		}
		// Marshal's order: keys sorted by their bytes. w.keys is shared by
		// every depth: each level uses what it appended, then cuts it off.
		from := len(w.keys)
		for k := range x {
			w.keys = append(w.keys, k)
		}
		keys := w.keys[from:]
		slices.Sort(keys)
		w.buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			if err := w.scalar(k); err != nil {
				return err
			}
			w.buf.WriteByte(':')
			var err error
			if SecretName(k) {
				err = w.scalar(Masked)
			} else {
				err = w.write(x[k])
			}
			if err != nil {
				return err
			}
		}
		w.buf.WriteByte('}')
		clear(keys)
		w.keys = w.keys[:from]
		return nil
	case []any:
		if x == nil {
			w.buf.WriteString("null")
			return nil
		}
		w.buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				w.buf.WriteByte(',')
			}
			if err := w.write(e); err != nil {
				return err
			}
		}
		w.buf.WriteByte(']')
		return nil
	}
	return w.scalar(v)
}

// scalar writes v with encoding/json's own rules (escaping, numbers,
// times); Encode writes nothing on failure and a newline after the value.
func (w *plainWriter) scalar(v any) error {
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.buf.Truncate(w.buf.Len() - 1)
	return nil
}

// plain reports whether v holds nothing but maps of strings, lists and
// scalars, which Mask sees whole; a bundle is most often just that. A time
// is a scalar too: its JSON is a string, as it is after the round trip.
func plain(v any) bool {
	switch x := v.(type) {
	case nil, string, bool, json.Number, time.Time,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return true
	case map[string]any:
		for _, e := range x {
			if !plain(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !plain(e) {
				return false
			}
		}
		return true
	}
	return false
}

// recordViaJSON is record for values of any type: to JSON, back to
// generic maps and lists, masked, to JSON again.
func recordViaJSON(v map[string]any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return unrecordable(err)
	}
	var generic map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers stay exactly as they were
	if err := dec.Decode(&generic); err != nil {
		return unrecordable(err)
	}
	if b, err = json.Marshal(Mask(generic)); err != nil {
		return unrecordable(err)
	}
	return string(b)
}

func unrecordable(err error) string {
	b, _ := json.Marshal("unrecordable: " + err.Error())
	return string(b)
}

// HasMasked reports whether Mask replaced anything in v (a value read back
// from the history): what was there is not kept, so v cannot stand in for
// the original.
func HasMasked(v map[string]any) bool {
	for k, x := range v {
		if SecretName(k) && x == Masked {
			return true
		}
		if hasMasked(x) {
			return true
		}
	}
	return false
}

func hasMasked(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return HasMasked(x)
	case []any:
		for _, e := range x {
			if hasMasked(e) {
				return true
			}
		}
	}
	return false
}
