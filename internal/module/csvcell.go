package module

import (
	"encoding/json"
	"fmt"
	"time"
)

// CSVCell is how a value reads in a CSV cell: times in RFC 3339 (UTC),
// maps and lists as JSON, a file by its name, nothing as an empty cell.
// The flow's csv() and csv.write both write cells with it.
func CSVCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return FormatTime(x)
	case string:
		return x
	case map[string]string, map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	case File:
		return x.Name()
	}
	return fmt.Sprint(v)
}
