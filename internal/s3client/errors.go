package s3client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3flow/s3flow/internal/netguard"
)

// Error is an S3 failure put in words: S3's code and message, the request
// id, and what the user can try.
type Error struct {
	Code      string
	Message   string
	RequestID string
	Status    int
	Hint      string
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// The codes s3flow itself gives to failures that are not S3 answers.
const (
	CodeUnreachable = "EndpointUnreachable"
	// CodeRefused is an address the endpoint policy refuses (netguard).
	CodeRefused     = "EndpointRefused"
	CodeWrongRegion = "WrongRegion"
)

var hints = map[string]string{
	"NoSuchBucket":                 "check the bucket name (list buckets with the connection, or create it with s3flow s3 create-bucket)",
	"NoSuchKey":                    "check the path; 's3flow s3 list-files' shows what the folder holds",
	"AccessDenied":                 "the keys are valid but not allowed to do this; check the IAM or bucket policy",
	"InvalidAccessKeyId":           "the access key id is unknown to this endpoint; check the connection's key (and endpoint)",
	"XAdminUserNotFound":           "the access key id is unknown to this endpoint; check the connection's key (and endpoint)",
	"SignatureDoesNotMatch":        "the secret access key does not match the access key id; re-create the connection with the right secret",
	"ExpiredToken":                 "the session token has expired; create the connection again with a fresh token",
	"InvalidToken":                 "the session token is not valid; create the connection again with a fresh token",
	"EntityTooLarge":               "the object is larger than the server accepts in one request",
	"RequestTimeTooSkewed":         "this machine's clock differs too much from the server's; fix the clock (NTP)",
	"BucketAlreadyExists":          "bucket names are global and someone else owns this one; choose another name",
	"InvalidBucketName":            "see the bucket naming rules",
	"PreconditionFailed":           "a condition header (If-Match / If-None-Match) did not hold; nothing was changed",
	"SlowDown":                     "the server asks to slow down; try again later",
	"AuthorizationHeaderMalformed": "the region is probably wrong; give the bucket's region with --region",
	"PermanentRedirect":            "the bucket is in another region; give it with --region",
	CodeUnreachable:                "check the endpoint URL and that the server is running",
}

// Explain turns an SDK error into an *Error, keeping the original wrapped.
// Errors that are neither S3 answers nor network failures come back as is.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// Refused before any request: the SDK's "operation error" prefix would
	// only hide the reason.
	var key *KeyError
	if errors.As(err, &key) {
		return key
	}
	var noCreds *NoCredentialsError
	if errors.As(err, &noCreds) {
		// The SDK's words around it ("operation error S3: ListBuckets, get
		// identity: get credentials: failed to refresh cached
		// credentials, ...") say nothing the user can act on.
		return noCreds
	}
	e := &Error{Err: err}
	var api smithy.APIError
	var resp *smithyhttp.ResponseError
	switch {
	case errors.As(err, &api):
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
	case errors.Is(err, netguard.ErrRefused):
		// Before isUnreachable: the refusal arrives inside a dial error.
		e.Code, e.Message = CodeRefused, refusedMessage(err)
	case isUnreachable(err):
		e.Code, e.Message = CodeUnreachable, unreachableMessage(err)
	default:
		return err
	}
	if errors.As(err, &resp) && resp.Response != nil {
		e.Status = resp.Response.StatusCode
	}
	var withID *awshttp.ResponseError
	if errors.As(err, &withID) {
		e.RequestID = withID.ServiceRequestID()
	}
	e.Hint = hints[e.Code]
	if e.Code == "RequestTimeTooSkewed" {
		if off, ok := clockOffset(err); ok {
			e.Hint = fmt.Sprintf("this machine's clock is about %s the server's; fix the clock (NTP)", off)
		}
	}
	if region := BucketRegion(err); region != "" {
		e.Hint = fmt.Sprintf("the bucket is in region %s; give --region %s", region, region)
	}
	// HEAD answers have no body, so S3's code arrives as a bare status.
	if e.Code == "NotFound" || e.Code == "Forbidden" || e.Code == "BadRequest" || e.Code == "MovedPermanently" {
		switch e.Status {
		case 404:
			e.Hint = "the bucket or object does not exist"
		case 403:
			e.Hint = hints["AccessDenied"]
		}
	}
	if e.Message == "" && e.Status != 0 {
		e.Message = fmt.Sprintf("HTTP %d", e.Status)
	}
	return e
}

// clockOffset says how far the request's signing time (X-Amz-Date) was
// from the server's (its Date), e.g. "20 minutes behind"; false when the
// answer does not tell or they differ by less than a minute.
func clockOffset(err error) (string, bool) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil || re.Response.Request == nil {
		return "", false
	}
	signed, err1 := time.Parse("20060102T150405Z", re.Response.Request.Header.Get("X-Amz-Date"))
	server, err2 := http.ParseTime(re.Response.Header.Get("Date"))
	if err1 != nil || err2 != nil {
		return "", false
	}
	d := server.Sub(signed)
	way := "behind"
	if d < 0 {
		d, way = -d, "ahead of"
	}
	minutes := int64(d.Round(time.Minute) / time.Minute)
	switch {
	case minutes < 1:
		return "", false
	case minutes == 1:
		return "1 minute " + way, true
	case minutes < 120:
		return fmt.Sprintf("%d minutes %s", minutes, way), true
	}
	return fmt.Sprintf("%.1f hours %s", d.Hours(), way), true
}

// Code returns S3's error code for err, or "".
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if errors.Is(err, netguard.ErrRefused) {
		return CodeRefused
	}
	if isUnreachable(err) {
		return CodeUnreachable
	}
	return ""
}

func refusedMessage(err error) string {
	var refused *netguard.RefusedError
	if errors.As(err, &refused) {
		return refused.Error()
	}
	return netguard.ErrRefused.Error()
}

func isUnreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var uerr *url.Error
	if errors.As(err, &op) || errors.As(err, &dns) {
		return true
	}
	return errors.As(err, &uerr) && !uerr.Timeout() && strings.Contains(uerr.Error(), "connect")
}

func unreachableMessage(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve host " + dns.Name
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return fmt.Sprintf("cannot connect to %s (%v)", op.Addr, op.Err)
	}
	return "cannot reach the endpoint"
}

// Hint returns what a user can try for an S3 error code, or "".
func Hint(code string) string { return hints[code] }

// WithoutHint returns an explained error without its general hint, for a
// caller that says what is wrong in words of its own; S3's code and
// request id stay. Other errors come back as they are.
func WithoutHint(err error) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	plain := *e
	plain.Hint = ""
	return &plain
}
