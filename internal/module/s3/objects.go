package s3

import "github.com/s3flow/s3flow/internal/module"

// objectModules are the object modules beyond the six: copy, delete, info,
// and waiting for files.
func objectModules() []*module.Module {
	return []*module.Module{CopyFile, DeleteFile, DeleteFiles, GetFileInfo, WaitForFiles, GzipFile, GunzipFile}
}
