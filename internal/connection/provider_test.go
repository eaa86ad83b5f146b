package connection

import (
	"strings"
	"testing"
)

func TestProvidersLoad(t *testing.T) {
	ps, err := Providers()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"aws", "b2", "ceph", "minio", "r2", "seaweedfs", "versitygw", "wasabi"}
	if len(ps) != len(want) {
		t.Fatalf("got %d providers, want %d", len(ps), len(want))
	}
	for i, p := range ps {
		if p.Name != want[i] || p.Title == "" || p.DefaultRegion == "" {
			t.Errorf("provider %d = %+v, want name %s with a title and default region", i, p, want[i])
		}
		if p.Checksum != ChecksumWhenRequired && p.Checksum != ChecksumWhenSupported {
			t.Errorf("%s: checksum %q", p.Name, p.Checksum)
		}
	}
}

func TestProviderApply(t *testing.T) {
	tests := []struct {
		provider, region, endpoint, account string
		pathStyleGiven, pathStyle           bool
		want                                Connection
		wantErr                             string
	}{
		{provider: "aws", want: Connection{Region: "us-east-1", ChecksumMode: ChecksumWhenSupported}},
		{provider: "aws", region: "eu-central-1", want: Connection{Region: "eu-central-1", ChecksumMode: ChecksumWhenSupported}},
		{provider: "r2", account: "abc123", want: Connection{Region: "auto", Endpoint: "https://abc123.r2.cloudflarestorage.com", PathStyle: true, ChecksumMode: ChecksumWhenRequired}},
		{provider: "r2", wantErr: "account_id: is required by provider r2"},
		{provider: "r2", region: "eu-west-1", account: "x", wantErr: "region: must be one of auto, wnam"},
		{provider: "wasabi", region: "eu-central-2", want: Connection{Region: "eu-central-2", Endpoint: "https://s3.eu-central-2.wasabisys.com", ChecksumMode: ChecksumWhenRequired}},
		{provider: "b2", want: Connection{Region: "us-west-004", Endpoint: "https://s3.us-west-004.backblazeb2.com", ChecksumMode: ChecksumWhenRequired}},
		{provider: "ceph", wantErr: "endpoint: is required by provider ceph"},
		{provider: "ceph", endpoint: "https://rgw.example", want: Connection{Region: "default", Endpoint: "https://rgw.example", PathStyle: true, ChecksumMode: ChecksumWhenRequired}},
		// What the user gives wins over the preset.
		{provider: "minio", endpoint: "http://10.0.0.5:9000", pathStyleGiven: true, pathStyle: false,
			want: Connection{Region: "us-east-1", Endpoint: "http://10.0.0.5:9000", ChecksumMode: ChecksumWhenRequired}},
	}
	for _, tt := range tests {
		t.Run(tt.provider+"/"+tt.region+tt.endpoint, func(t *testing.T) {
			p, err := LookupProvider(tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			c := Connection{Region: tt.region, Endpoint: tt.endpoint, PathStyle: tt.pathStyle}
			err = p.apply(&c, tt.account, tt.pathStyleGiven).err()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Errorf("got %+v\nwant %+v", c, tt.want)
			}
		})
	}
	if _, err := LookupProvider("nope"); err == nil || !strings.Contains(err.Error(), "providers: aws, b2") {
		t.Errorf("unknown provider: %v", err)
	}
}
