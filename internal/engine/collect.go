package engine

import (
	"encoding/json"
	"fmt"

	"github.com/s3flow/s3flow/internal/module"
)

// collected is what an open aggregate has gathered so far: the bundles
// themselves unless it keeps none (items: false), their count, and the
// sum, least and greatest of its value field, which need no bundle kept.
// For a module that collects itself (csv.write), sink takes each bundle
// as it comes, in order; a parallel branch has no sink and keeps its
// bundles as items until they are merged, in order, into the sink.
type collected struct {
	sink     module.Collector
	items    []any
	count    int64
	values   int64
	sum      float64
	min, max float64
}

func (c *collected) add(v float64) {
	if c.values == 0 || v < c.min {
		c.min = v
	}
	if c.values == 0 || v > c.max {
		c.max = v
	}
	c.sum += v
	c.values++
}

// collect takes one bundle of the loop.
func (c *collected) collect(item any) error {
	if c.sink == nil {
		c.items = append(c.items, item)
		return nil
	}
	var m map[string]any
	switch b := item.(type) {
	case module.Bundle:
		m = b
	case map[string]any:
		m = b
	default:
		return fmt.Errorf("the bundle is %s, not a map of fields", describe(item))
	}
	return c.sink.Add(m)
}

// merge adds what a later branch collected.
func (c *collected) merge(o *collected) error {
	c.count += o.count
	if c.sink != nil {
		for _, it := range o.items {
			if err := c.collect(it); err != nil {
				return err
			}
		}
	} else {
		c.items = append(c.items, o.items...)
	}
	if o.values == 0 {
		return nil
	}
	if c.values == 0 || o.min < c.min {
		c.min = o.min
	}
	if c.values == 0 || o.max > c.max {
		c.max = o.max
	}
	c.sum += o.sum
	c.values += o.values
	return nil
}

// bundle is the aggregate's output. Sums of whole numbers stay whole.
func (c *collected) bundle(items, values bool) module.Bundle {
	out := module.Bundle{"count": c.count}
	if items {
		if c.items == nil {
			c.items = []any{}
		}
		out["items"] = c.items
	}
	if values && c.values > 0 {
		out["sum"], out["min"], out["max"] = whole(c.sum), whole(c.min), whole(c.max)
		out["average"] = c.sum / float64(c.values)
	}
	return out
}

// whole returns v as an int64 when it is one (a sum of sizes), else v.
func whole(v float64) any {
	if v == float64(int64(v)) && v > -1<<53 && v < 1<<53 {
		return int64(v)
	}
	return v
}

// number reads a value an expression gave as a number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// describe names a value's kind for a message, without its content.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return "text"
	case bool:
		return "true or false"
	case []any:
		return "a list"
	case map[string]any, module.Bundle:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

// withoutItems is an aggregate's output as its event records it: the
// items are the earlier steps' bundles, recorded already.
func withoutItems(out module.Bundle) map[string]any {
	rec := make(map[string]any, len(out))
	for k, v := range out {
		if k != "items" {
			rec[k] = v
		}
	}
	return rec
}
