package s3client

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// maxCachedEndpoints bounds the cache; a flow touches a few buckets, and
// a full cache starts over.
const maxCachedEndpoints = 256

// endpointCache remembers the endpoints the SDK's rules resolve. The SDK
// evaluates its whole rule set twice for every request (once to choose
// how to sign, once to address it): an eighth of a bulk upload's CPU.
// The rules read the bucket, region, endpoint and switches, never the
// object's key, prefix or copy source (TestEndpointRulesIgnoreKeys holds
// the SDK to that), so the endpoint of a bucket is resolved once.
type endpointCache struct {
	rules s3.EndpointResolverV2
	mu    sync.RWMutex
	known map[endpointKey]smithyendpoints.Endpoint
}

func newEndpointCache(rules s3.EndpointResolverV2) *endpointCache {
	return &endpointCache{rules: rules, known: make(map[endpointKey]smithyendpoints.Endpoint)}
}

// endpointKey is every parameter of s3.EndpointParameters but Key, Prefix
// and CopySource; an absent one differs from an empty or false one.
type endpointKey struct {
	bucket, region, endpoint optString
	switches                 uint32 // two bits for each *bool: set, true
}

type optString struct {
	set bool
	s   string
}

func keyOf(p s3.EndpointParameters) endpointKey {
	str := func(s *string) optString {
		if s == nil {
			return optString{}
		}
		return optString{true, *s}
	}
	var switches uint32
	for i, b := range []*bool{p.UseFIPS, p.UseDualStack, p.ForcePathStyle, p.Accelerate, p.UseGlobalEndpoint,
		p.UseObjectLambdaEndpoint, p.DisableAccessPoints, p.DisableMultiRegionAccessPoints, p.UseArnRegion,
		p.UseS3ExpressControlEndpoint, p.DisableS3ExpressSessionAuth} {
		if b != nil {
			switches |= 1 << (2 * i)
			if *b {
				switches |= 2 << (2 * i)
			}
		}
	}
	return endpointKey{bucket: str(p.Bucket), region: str(p.Region), endpoint: str(p.Endpoint), switches: switches}
}

func (c *endpointCache) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := keyOf(p)
	c.mu.RLock()
	e, ok := c.known[k]
	c.mu.RUnlock()
	if ok {
		return cloneEndpoint(e), nil
	}
	e, err := c.rules.ResolveEndpoint(ctx, p)
	if err != nil {
		return e, err // not kept: an error may be the context's
	}
	c.mu.Lock()
	if len(c.known) >= maxCachedEndpoints {
		clear(c.known)
	}
	c.known[k] = e
	c.mu.Unlock()
	return cloneEndpoint(e), nil
}

// cloneEndpoint copies what the SDK changes in an endpoint it is given:
// it rewrites the auth options' properties in place, per request.
func cloneEndpoint(e smithyendpoints.Endpoint) smithyendpoints.Endpoint {
	out := smithyendpoints.Endpoint{URI: e.URI, Headers: e.Headers.Clone()}
	out.Properties.SetAll(&e.Properties)
	if opts, ok := smithyauth.GetAuthOptions(&e.Properties); ok {
		copied := make([]*smithyauth.Option, len(opts))
		for i, o := range opts {
			c := &smithyauth.Option{SchemeID: o.SchemeID}
			c.IdentityProperties.SetAll(&o.IdentityProperties)
			c.SignerProperties.SetAll(&o.SignerProperties)
			copied[i] = c
		}
		smithyauth.SetAuthOptions(&out.Properties, copied)
	}
	return out
}
