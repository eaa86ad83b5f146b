package s3

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/s3flow/s3flow/internal/module"
	"github.com/s3flow/s3flow/internal/s3client"
)

// maxResponseBody bounds what Make an API call keeps of a response; larger
// objects are for Get a file.
const maxResponseBody = 64 << 20

// APICall is "Make an API call": any S3 REST request, signed by s3flow.
var APICall = &module.Module{
	Name:            "s3.api_call",
	Verb:            "api-call",
	Title:           "Make an API call",
	Group:           module.GroupBuckets,
	Help:            "Sends any request to the S3 REST API, signed with the connection's keys (SigV4). Do not add Authorization headers.",
	NeedsConnection: true,
	Fields: []module.Field{
		{Name: "url", Label: "URL", Type: module.String, Required: true,
			Help: "path relative to the region's S3 endpoint; write keys as they are, s3flow encodes them", Example: "/demo/reports/q3.csv?tagging"},
		{Name: "method", Label: "Method", Type: module.String, Default: "GET",
			Choices: []string{"GET", "HEAD", "PUT", "POST", "DELETE"}, Help: "HTTP method"},
		{Name: "headers", Flag: "header", Label: "Headers", Type: module.Pairs, Kind: module.Headers, Separator: ": ",
			Help: "request headers, e.g. 'Content-Type: application/xml'"},
		{Name: "query", Label: "Query String", Type: module.Pairs, Separator: "=",
			Help: "query string items, e.g. 'list-type=2'"},
		{Name: "body", Label: "Body", Type: module.Body,
			Help: "request body: text, or a file (in flows, a file reference of an earlier step; on the command line, @FILE)"},
		regionField,
	},
	Outputs: []module.Output{
		{Name: "statusCode", Type: module.Int}, {Name: "headers", Type: module.Map}, {Name: "body", Type: module.String},
	},
	Validate: func(in module.Values) error {
		_, err := parseRelativeURL(in.String("url"))
		return err
	},
	Run: runAPICall,
}

// parseRelativeURL splits a relative URL into its literal path and query
// items. Absolute URLs, other hosts and "//" are refused: a request never
// goes to a host the connection does not name.
func parseRelativeURL(raw string) (s3client.RawRequest, error) {
	bad := func(rule string) error { return &module.InputError{Field: "url", Rule: rule} }
	if !strings.HasPrefix(raw, "/") {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			return s3client.RawRequest{}, bad(fmt.Sprintf("%q is absolute; give a path relative to the S3 endpoint, e.g. /%s", raw, strings.TrimPrefix(u.Path, "/")))
		}
		return s3client.RawRequest{}, bad(fmt.Sprintf("%q must start with / (a path relative to the S3 endpoint, e.g. /demo?tagging)", raw))
	}
	if strings.HasPrefix(raw, "//") {
		return s3client.RawRequest{}, bad(fmt.Sprintf("%q starts with //, which names another host; give a path such as /bucket/key", raw))
	}
	if strings.ContainsAny(raw, "\r\n\x00#") {
		return s3client.RawRequest{}, bad("must not contain line breaks, NUL or #")
	}
	p, q, _ := strings.Cut(raw, "?")
	r := s3client.RawRequest{Path: p}
	if q != "" {
		for item := range strings.SplitSeq(q, "&") {
			if item == "" {
				continue
			}
			name, value, _ := strings.Cut(item, "=")
			r.Query = append(r.Query, s3client.QueryParam{Name: name, Value: value})
		}
	}
	return r, nil
}

func runAPICall(ctx context.Context, env module.Env, in module.Values, emit func(module.Bundle) error) error {
	req, err := parseRelativeURL(in.String("url"))
	if err != nil {
		return err
	}
	req.Method = in.String("method")
	for _, q := range in.Pairs("query") {
		req.Query = append(req.Query, s3client.QueryParam{Name: q.Name, Value: q.Value})
	}
	req.Header = http.Header{}
	for _, h := range in.Pairs("headers") {
		if strings.EqualFold(h.Name, "Authorization") {
			env.Log().WarnContext(ctx, "the Authorization header is ignored: s3flow signs the request itself")
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	switch body := in["body"].(type) {
	case module.File:
		r, err := body.Open()
		if err != nil {
			return &module.InputError{Field: "body", Rule: fmt.Sprintf("cannot read %s: %v", body.Name(), err)}
		}
		defer r.Close()
		rs, ok := r.(io.ReadSeeker)
		if !ok {
			// The payload is hashed for the signature, then sent.
			return &module.InputError{Field: "body", Rule: fmt.Sprintf("%s can be read only once; the body must be a file that can be read twice (a local or downloaded file)", body.Name())}
		}
		req.Body = rs
	case string:
		if body != "" {
			req.Body = strings.NewReader(body)
		}
	}
	c, err := client(ctx, env, in)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s %s", req.Method, in.String("url"))
	resp, err := c.Send(ctx, "", req)
	if err != nil {
		return fmt.Errorf("api call %s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return fmt.Errorf("api call %s: read the response: %w", what, err)
	}
	if len(body) > maxResponseBody {
		return fmt.Errorf("api call %s: the response is larger than %d MiB; use get-file for objects", what, maxResponseBody>>20)
	}
	headers := map[string]string{}
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		headers[name] = strings.Join(resp.Header.Values(name), ", ")
	}
	if err := emit(module.Bundle{"statusCode": int64(resp.StatusCode), "headers": headers, "body": string(body)}); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("api call %s: %w", what, responseError(resp, body))
	}
	return nil
}

// responseError reads S3's XML error document (Code, Message, RequestId).
func responseError(resp *http.Response, body []byte) error {
	var doc struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	_ = xml.NewDecoder(bytes.NewReader(body)).Decode(&doc)
	e := &s3client.Error{Code: doc.Code, Message: doc.Message, RequestID: doc.RequestID, Status: resp.StatusCode}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Amz-Request-Id")
	}
	if e.Code == "" {
		e.Code = fmt.Sprintf("HTTP%d", resp.StatusCode)
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Hint = s3client.Hint(e.Code)
	return e
}
