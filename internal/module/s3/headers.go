package s3

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"

	"github.com/s3flow/s3flow/internal/module"
)

// putHeader sets one PUT Object request header on an upload.
type putHeader func(in *transfermanager.UploadObjectInput, value string) error

func setString(field func(*transfermanager.UploadObjectInput) **string) putHeader {
	return func(in *transfermanager.UploadObjectInput, v string) error {
		*field(in) = aws.String(v)
		return nil
	}
}

func setTime(field func(*transfermanager.UploadObjectInput) **time.Time) putHeader {
	return func(in *transfermanager.UploadObjectInput, v string) error {
		t, err := http.ParseTime(v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("must be an HTTP date (e.g. %q) or RFC 3339 time", "Wed, 21 Oct 2026 07:28:00 GMT")
			}
		}
		*field(in) = aws.Time(t)
		return nil
	}
}

// putHeaders are the request headers of S3's PUT Object that Upload a file
// accepts, by lower-case name. x-amz-meta-* is handled on its own.
var putHeaders = map[string]putHeader{
	"content-type":        setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ContentType }),
	"cache-control":       setString(func(i *transfermanager.UploadObjectInput) **string { return &i.CacheControl }),
	"content-disposition": setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ContentDisposition }),
	"content-encoding":    setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ContentEncoding }),
	"content-language":    setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ContentLanguage }),
	"expires":             setTime(func(i *transfermanager.UploadObjectInput) **time.Time { return &i.Expires }),
	// Content-MD5 covers one request; upload() sends it on a single PUT.
	"content-md5": func(_ *transfermanager.UploadObjectInput, v string) error {
		if b, err := base64.StdEncoding.DecodeString(v); err != nil || len(b) != 16 {
			return fmt.Errorf("must be the base64 of a 16-byte MD5 digest")
		}
		return nil
	},
	"x-amz-storage-class": func(i *transfermanager.UploadObjectInput, v string) error {
		i.StorageClass = tmtypes.StorageClass(v)
		return nil
	},
	"x-amz-tagging": setString(func(i *transfermanager.UploadObjectInput) **string { return &i.Tagging }),
	"x-amz-acl": func(i *transfermanager.UploadObjectInput, v string) error {
		i.ACL = tmtypes.ObjectCannedACL(v)
		return nil
	},
	"x-amz-grant-full-control": setString(func(i *transfermanager.UploadObjectInput) **string { return &i.GrantFullControl }),
	"x-amz-grant-read":         setString(func(i *transfermanager.UploadObjectInput) **string { return &i.GrantRead }),
	"x-amz-grant-read-acp":     setString(func(i *transfermanager.UploadObjectInput) **string { return &i.GrantReadACP }),
	"x-amz-grant-write-acp":    setString(func(i *transfermanager.UploadObjectInput) **string { return &i.GrantWriteACP }),
	"x-amz-server-side-encryption": func(i *transfermanager.UploadObjectInput, v string) error {
		i.ServerSideEncryption = tmtypes.ServerSideEncryption(v)
		return nil
	},
	"x-amz-server-side-encryption-aws-kms-key-id":     setString(func(i *transfermanager.UploadObjectInput) **string { return &i.SSEKMSKeyID }),
	"x-amz-server-side-encryption-context":            setString(func(i *transfermanager.UploadObjectInput) **string { return &i.SSEKMSEncryptionContext }),
	"x-amz-server-side-encryption-customer-algorithm": setString(func(i *transfermanager.UploadObjectInput) **string { return &i.SSECustomerAlgorithm }),
	"x-amz-server-side-encryption-customer-key":       setString(func(i *transfermanager.UploadObjectInput) **string { return &i.SSECustomerKey }),
	"x-amz-server-side-encryption-customer-key-md5":   setString(func(i *transfermanager.UploadObjectInput) **string { return &i.SSECustomerKeyMD5 }),
	"x-amz-server-side-encryption-bucket-key-enabled": func(i *transfermanager.UploadObjectInput, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		i.BucketKeyEnabled = aws.Bool(b)
		return nil
	},
	"x-amz-object-lock-mode": func(i *transfermanager.UploadObjectInput, v string) error {
		i.ObjectLockMode = tmtypes.ObjectLockMode(v)
		return nil
	},
	"x-amz-object-lock-retain-until-date": setTime(func(i *transfermanager.UploadObjectInput) **time.Time { return &i.ObjectLockRetainUntilDate }),
	"x-amz-object-lock-legal-hold": func(i *transfermanager.UploadObjectInput, v string) error {
		i.ObjectLockLegalHoldStatus = tmtypes.ObjectLockLegalHoldStatus(v)
		return nil
	},
	"x-amz-website-redirect-location": setString(func(i *transfermanager.UploadObjectInput) **string { return &i.WebsiteRedirectLocation }),
	"if-none-match":                   setString(func(i *transfermanager.UploadObjectInput) **string { return &i.IfNoneMatch }),
	"if-match":                        setString(func(i *transfermanager.UploadObjectInput) **string { return &i.IfMatch }),
	"x-amz-checksum-crc32":            setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ChecksumCRC32 }),
	"x-amz-checksum-crc32c":           setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ChecksumCRC32C }),
	"x-amz-checksum-crc64nvme":        setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ChecksumCRC64NVME }),
	"x-amz-checksum-sha1":             setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ChecksumSHA1 }),
	"x-amz-checksum-sha256":           setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ChecksumSHA256 }),
	"x-amz-sdk-checksum-algorithm": func(i *transfermanager.UploadObjectInput, v string) error {
		i.ChecksumAlgorithm = tmtypes.ChecksumAlgorithm(strings.ToUpper(v))
		return nil
	},
	"x-amz-checksum-algorithm": func(i *transfermanager.UploadObjectInput, v string) error {
		i.ChecksumAlgorithm = tmtypes.ChecksumAlgorithm(strings.ToUpper(v))
		return nil
	},
	"x-amz-request-payer": func(i *transfermanager.UploadObjectInput, v string) error {
		i.RequestPayer = tmtypes.RequestPayer(v)
		return nil
	},
	"x-amz-expected-bucket-owner": setString(func(i *transfermanager.UploadObjectInput) **string { return &i.ExpectedBucketOwner }),
}

const metaPrefix = "x-amz-meta-"

// acceptedHeaders lists the accepted header names for error messages.
func acceptedHeaders() string {
	names := make([]string, 0, len(putHeaders)+1)
	for n := range putHeaders {
		names = append(names, n)
	}
	names = append(names, metaPrefix+"*")
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// applyHeaders sets the headers on in, or names the header that is refused
// and why. It returns the Content-MD5 value, which needs a single PUT.
func applyHeaders(in *transfermanager.UploadObjectInput, headers []module.Pair) (contentMD5 string, err error) {
	for _, h := range headers {
		name := strings.ToLower(strings.TrimSpace(h.Name))
		if strings.HasPrefix(name, metaPrefix) && len(name) > len(metaPrefix) {
			if in.Metadata == nil {
				in.Metadata = map[string]string{}
			}
			in.Metadata[name[len(metaPrefix):]] = h.Value
			continue
		}
		set, ok := putHeaders[name]
		if !ok {
			return "", &module.InputError{Field: "headers", Rule: fmt.Sprintf("%q is not a PUT Object request header s3flow accepts; accepted: %s", h.Name, acceptedHeaders())}
		}
		if err := set(in, h.Value); err != nil {
			return "", &module.InputError{Field: "headers", Rule: fmt.Sprintf("%s %v", h.Name, err)}
		}
		if name == "content-md5" {
			contentMD5 = h.Value
		}
	}
	return contentMD5, nil
}
