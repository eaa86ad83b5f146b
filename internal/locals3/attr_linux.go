package locals3

import "syscall"

// childAttr makes the kernel stop the endpoint if s3flow dies without
// stopping it (SIGKILL, a crash).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
