package data

import (
	"testing"

	"github.com/s3flow/s3flow/internal/s3test"
)

// TestMain lets the test binary double as the local endpoint's child.
func TestMain(m *testing.M) { s3test.Main(m) }
