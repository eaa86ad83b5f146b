package s3client

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/s3flow/s3flow/internal/module"
)

// KeyError says the local endpoint cannot use a key as given.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("the local endpoint cannot store the key %q as given: %s (its objects are files; S3 and other stores keep such a key as it is)", e.Key, e.Reason)
}

// As lets errors.As find a KeyError as a *module.InputError: the key is
// bad input, refused before any request, so every interface treats it as
// it treats other refused input (the CLI exits 2, the API answers 400).
// No one field is to blame: the key is made of the module's fields.
func (e *KeyError) As(target any) bool {
	t, ok := target.(**module.InputError)
	if ok {
		*t = &module.InputError{Rule: e.Error()}
	}
	return ok
}

// CheckLocalKey says why the local endpoint would store key under another
// name, or refuse it with a bare 400: its objects are files under the
// bucket's folder, and a file path resolves "." and "..", folds "//" and
// drops a leading "/" ("a/../b/x" is stored as "b/x", "./x" as "x").
func CheckLocalKey(key string) error {
	switch {
	case strings.HasPrefix(key, "/"):
		return &KeyError{Key: key, Reason: `it starts with "/"`}
	case strings.Contains(key, "//"):
		return &KeyError{Key: key, Reason: `it holds "//", an empty folder name`}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return &KeyError{Key: key, Reason: fmt.Sprintf("it has a %q folder, which a file path resolves", seg)}
		}
	}
	return nil
}

// checkLocalKeys refuses, before any request, an operation whose keys the
// local endpoint would change (CheckLocalKey). It sits in the client every
// module uses, so no module can forget it; it is added only for the local
// connection, since S3 stores such keys as given.
func checkLocalKeys(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("S3flowLocalKeys",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			for _, key := range operationKeys(in.Parameters) {
				if err := CheckLocalKey(key); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// operationKeys returns the object keys an operation's input names: its
// Key, the key of its CopySource and the keys of a DeleteObjects. Every
// object operation of the SDK has a Key *string field; reading it by name
// covers those the modules will use later too.
func operationKeys(params any) []string {
	var keys []string
	if d, ok := params.(*s3.DeleteObjectsInput); ok && d.Delete != nil {
		for _, o := range d.Delete.Objects {
			if o.Key != nil {
				keys = append(keys, *o.Key)
			}
		}
	}
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return keys
	}
	if f := v.Elem().FieldByName("Key"); f.IsValid() {
		if k, ok := f.Interface().(*string); ok && k != nil {
			keys = append(keys, *k)
		}
	}
	if f := v.Elem().FieldByName("CopySource"); f.IsValid() {
		if src, ok := f.Interface().(*string); ok && src != nil {
			// "bucket/key?versionId=...", URL-encoded.
			p, _, _ := strings.Cut(*src, "?")
			if p, err := url.PathUnescape(p); err == nil {
				if _, key, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/"); ok {
					keys = append(keys, key)
				}
			}
		}
	}
	return keys
}

// rawKey is the key a raw request's path names ("/bucket/key"), "" for a
// bucket or the service.
func rawKey(path string) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return key
}
