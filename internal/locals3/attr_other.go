//go:build !linux

package locals3

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
