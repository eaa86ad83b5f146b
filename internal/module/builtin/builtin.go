// Package builtin declares the modules every flow has besides the S3 ones:
// control of bundles (flow.*) and local files (file.*).
package builtin

import (
	"context"

	"github.com/s3flow/s3flow/internal/module"
)

// Modules returns the built-in modules.
func Modules() []*module.Module {
	return []*module.Module{Filter, Aggregate, Iterate, FileList, FileRead, FileWrite}
}

// Filter lets only the bundles that meet its condition go on. The engine
// evaluates it; it has no Run of its own.
var Filter = &module.Module{
	Name:    "flow.filter",
	Verb:    "filter",
	Title:   "Filter",
	Group:   module.GroupControl,
	Control: module.Filters,
	Help:    "Lets only the bundles for which the condition is true go on to the next steps.",
	Fields: []module.Field{
		{Name: "condition", Label: "Condition", Type: module.Bool, Required: true,
			Help: "an expression, e.g. {{ steps.list.size > 0 && steps.list.key endsWith '.csv' }}"},
	},
}

// Aggregate collects the bundles of an earlier step into one bundle. The
// engine runs it: it closes the loop of the nearest step at or before
// "from" that emits many bundles.
var Aggregate = &module.Module{
	Name:    "flow.aggregate",
	Verb:    "aggregate",
	Title:   "Aggregate",
	Group:   module.GroupControl,
	Control: module.Collects,
	Help:    "Collects the bundles of an earlier step into one list (items), e.g. to write one manifest of all files copied; or only counts them and sums a value (items: false), in no memory however many there are.",
	Fields: []module.Field{
		{Name: "from", Label: "Source step", Type: module.String, Kind: module.StepID, Required: true,
			Help: "the id of the step whose bundles are collected"},
		{Name: "value", Label: "Value", Type: module.Number,
			Help: "a number for each bundle, e.g. {{ steps.list.size }}: gives sum, min, max and average"},
		{Name: "items", Label: "Keep the items", Type: module.Bool, Default: true,
			Help: "false: keep no bundle, only count (and sum the value); for listings of any size"},
	},
	Outputs: []module.Output{
		{Name: "items", Type: module.List, Help: "the collected bundles, in order (none with items: false)"},
		{Name: "count", Type: module.Int, Help: "how many"},
		{Name: "sum", Type: module.Number, Help: "the sum of value (with value)"},
		{Name: "min", Type: module.Number, Help: "the least value (with value)"},
		{Name: "max", Type: module.Number, Help: "the greatest value (with value)"},
		{Name: "average", Type: module.Number, Help: "the mean of value (with value)"},
	},
}

// Iterate turns a list into one bundle per item.
var Iterate = &module.Module{
	Name:  "flow.iterate",
	Verb:  "iterate",
	Title: "Iterate",
	Group: module.GroupControl,
	Help:  "Splits a list into bundles: the next steps run once per item.",
	Many:  true,
	Fields: []module.Field{
		{Name: "items", Label: "List", Type: module.List, Required: true,
			Help: "an expression giving a list, e.g. {{ steps.all.items }} or {{ split(inputs.keys, ',') }}"},
	},
	Outputs: []module.Output{
		{Name: "value", Type: module.Any, Help: "the item"},
		{Name: "index", Type: module.Int, Help: "its position, from 0"},
	},
	Run: func(ctx context.Context, _ module.Env, in module.Values, emit func(module.Bundle) error) error {
		for i, v := range in.List("items") {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := emit(module.Bundle{"value": v, "index": int64(i)}); err != nil {
				return err
			}
		}
		return nil
	},
}
