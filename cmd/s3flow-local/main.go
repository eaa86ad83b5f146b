// Command s3flow-local serves s3flow's local S3-compatible endpoint (the
// offline default). s3flow starts it when a command uses the "local"
// connection; install it next to s3flow (CGO_ENABLED=0 go install ./cmd/...).
package main

import (
	"os"

	"github.com/s3flow/s3flow/internal/locals3/gateway"
)

func main() { os.Exit(gateway.Main(os.Args[1:], os.Stdin, os.Stderr)) }
