package s3client

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestCheckLocalKey(t *testing.T) {
	for _, tt := range []struct {
		key, reason string
	}{
		{key: "notes/hello.txt"},
		{key: "folder/"},
		{key: "a.b/..c/c..d/.e"},
		{key: "a/../b/hello.txt", reason: `it has a ".." folder`},
		{key: "./dot", reason: `it has a "." folder`},
		{key: "../escape/hello.txt", reason: `it has a ".." folder`},
		{key: "a/.", reason: `it has a "." folder`},
		{key: "a//b", reason: `it holds "//"`},
		{key: "/lead.txt", reason: `it starts with "/"`},
	} {
		err := CheckLocalKey(tt.key)
		var ke *KeyError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%q: %v", tt.key, err)
		case tt.reason != "" && (!errors.As(err, &ke) || !strings.Contains(ke.Reason, tt.reason) || ke.Key != tt.key):
			t.Errorf("%q: err = %v, want one saying %s", tt.key, err, tt.reason)
		}
	}
}

func TestOperationKeys(t *testing.T) {
	for _, tt := range []struct {
		params any
		want   []string
	}{
		{&s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("a/../x")}, []string{"a/../x"}},
		{&s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("a/")}, nil},
		{&s3.CopyObjectInput{Key: aws.String("to"), CopySource: aws.String("b/dots/.%2Fx?versionId=1")}, []string{"to", "dots/./x"}},
		{&s3.DeleteObjectsInput{Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("x")}, {Key: aws.String("./y")}}}}, []string{"x", "./y"}},
	} {
		if got := operationKeys(tt.params); !slices.Equal(got, tt.want) {
			t.Errorf("operationKeys(%T) = %q, want %q", tt.params, got, tt.want)
		}
	}
}
