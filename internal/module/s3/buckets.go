package s3

import "github.com/s3flow/s3flow/internal/module"

// bucketModules are the bucket-level and other modules beyond the six:
// buckets, folders, versions, tags and presigned links.
func bucketModules() []*module.Module {
	return []*module.Module{ListBuckets, DeleteBucket, CreateFolder, ListVersions, SetBucketVersioning, GetTags, SetTags, PresignURL}
}
