package s3

import "github.com/s3flow/s3flow/internal/module"

// objectModules are the object modules beyond the six: copy, delete, info,
// waiting for files, zip archives and gzip.
func objectModules() []*module.Module {
	return []*module.Module{CopyFile, DeleteFile, DeleteFiles, GetFileInfo, WaitForFiles, ZipFiles, UnzipFile, GzipFile, GunzipFile}
}
