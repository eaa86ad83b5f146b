package s3client

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
)

// endpointCases are parameters as the SDK binds them for the addressing
// s3flow's users have: AWS regions virtual-hosted and path-style, FIPS,
// dual-stack, acceleration, a custom endpoint, an access point ARN.
var endpointCases = map[string]s3.EndpointParameters{
	"aws virtual host": {Bucket: aws.String("reports"), Region: aws.String("eu-west-1"),
		UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(false), Accelerate: aws.Bool(false)},
	"aws path style": {Bucket: aws.String("reports.2026"), Region: aws.String("us-east-1"),
		UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(true), Accelerate: aws.Bool(false)},
	"fips dual stack": {Bucket: aws.String("reports"), Region: aws.String("us-gov-west-1"),
		UseFIPS: aws.Bool(true), UseDualStack: aws.Bool(true), ForcePathStyle: aws.Bool(false), Accelerate: aws.Bool(false)},
	"accelerated": {Bucket: aws.String("reports"), Region: aws.String("us-west-2"),
		UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(false), Accelerate: aws.Bool(true)},
	"custom endpoint": {Bucket: aws.String("demo"), Region: aws.String("us-east-1"), Endpoint: aws.String("http://127.0.0.1:7070"),
		UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(true), Accelerate: aws.Bool(false)},
	"access point": {Bucket: aws.String("arn:aws:s3:us-west-2:123456789012:accesspoint/myendpoint"), Region: aws.String("us-west-2"),
		UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(false), Accelerate: aws.Bool(false), UseArnRegion: aws.Bool(true)},
	"no bucket": {Region: aws.String("ap-south-1"), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(false), Accelerate: aws.Bool(false)},
}

// The cache is keyed without the object's key, prefix and copy source:
// this holds the SDK's rules to never reading them. An SDK whose rules
// start to (S3 Express sessions by key, say) fails here first.
func TestEndpointRulesIgnoreKeys(t *testing.T) {
	rules := s3.NewDefaultEndpointResolverV2()
	for name, base := range endpointCases {
		want, err := rules.ResolveEndpoint(context.Background(), base)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, key := range []string{"a/b.txt", "../../x", "arn:aws:s3:::other/key", "photos/2019/February/image023.jpg", ""} {
			p := base
			p.Key, p.Prefix, p.CopySource = aws.String(key), aws.String(key), aws.String("other-bucket/"+key)
			got, err := rules.ResolveEndpoint(context.Background(), p)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s, key %q: %v, %v; without the key %v", name, key, got.URI.String(), err, want.URI.String())
			}
		}
	}
}

// Every parameter but Key, Prefix and CopySource tells endpoints apart,
// including parameters a later SDK adds (found by reflection).
func TestEndpointKeyCoversParameters(t *testing.T) {
	zero := keyOf(s3.EndpointParameters{})
	ignored := map[string]bool{"Key": true, "Prefix": true, "CopySource": true}
	typ := reflect.TypeFor[s3.EndpointParameters]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		for _, val := range []string{"", "x"} {
			var p s3.EndpointParameters
			v := reflect.ValueOf(&p).Elem().Field(i)
			switch f.Type {
			case reflect.TypeFor[*string]():
				v.Set(reflect.ValueOf(aws.String(val)))
			case reflect.TypeFor[*bool]():
				v.Set(reflect.ValueOf(aws.Bool(val != "")))
			default:
				t.Fatalf("parameter %s is a %v: keyOf does not know it", f.Name, f.Type)
			}
			if same := keyOf(p) == zero; same != ignored[f.Name] {
				t.Errorf("parameter %s = %q: key unchanged %v, want %v", f.Name, val, same, ignored[f.Name])
			}
		}
	}
	if a, b := keyOf(s3.EndpointParameters{UseFIPS: aws.Bool(true)}), keyOf(s3.EndpointParameters{UseDualStack: aws.Bool(true)}); a == b {
		t.Error("two switches share a key")
	}
}

func TestEndpointCache(t *testing.T) {
	rules := s3.NewDefaultEndpointResolverV2()
	cache := newEndpointCache(rules)
	ctx := context.Background()
	for name, p := range endpointCases {
		want, err := rules.ResolveEndpoint(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // resolved, then from the cache
			got, err := cache.ResolveEndpoint(ctx, p)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %v (%v), want %v", name, got.URI.String(), err, want.URI.String())
			}
			// The SDK rewrites the auth options it is given; the next
			// request must not see that.
			if opts, ok := smithyauth.GetAuthOptions(&got.Properties); ok {
				for _, o := range opts {
					o.SchemeID = "changed"
					o.SignerProperties.Set("changed", true)
				}
			}
		}
	}
	if _, err := cache.ResolveEndpoint(ctx, s3.EndpointParameters{Bucket: aws.String("b")}); err == nil {
		t.Error("parameters without a region resolved")
	}
}

func TestEndpointCacheConcurrent(t *testing.T) {
	cache := newEndpointCache(s3.NewDefaultEndpointResolverV2())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, p := range endpointCases {
				e, err := cache.ResolveEndpoint(context.Background(), p)
				if err != nil {
					t.Error(err)
					return
				}
				if opts, ok := smithyauth.GetAuthOptions(&e.Properties); ok {
					opts[0].SignerProperties.Set("seen", true)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkEndpoint is the cost per request of the SDK's endpoint rules
// against the cache (the SDK resolves twice per request).
func BenchmarkEndpoint(b *testing.B) {
	p := endpointCases["custom endpoint"]
	p.Key = aws.String("incoming/2026/12/03/report-0001.csv")
	for _, bc := range []struct {
		name     string
		resolver s3.EndpointResolverV2
	}{
		{"rules", s3.NewDefaultEndpointResolverV2()},
		{"cached", newEndpointCache(s3.NewDefaultEndpointResolverV2())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.resolver.ResolveEndpoint(context.Background(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
