// Command s3flow runs S3 modules and action flows.
package main

import (
	"os"

	"github.com/s3flow/s3flow/internal/cli"
)

func main() { os.Exit(cli.Main()) }
