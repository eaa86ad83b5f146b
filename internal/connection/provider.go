package connection

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Provider is a preset for an S3-compatible service: how to reach it and
// what it accepts. Presets are data (providers/*.yaml), one file each, so a
// new provider needs no code.
type Provider struct {
	Name  string `yaml:"name" json:"name"`
	Title string `yaml:"title" json:"title"`
	// Endpoint is a URL pattern; {region} and {account_id} are filled in.
	// Empty means the AWS SDK's own endpoint (AWS), or that the user must
	// give one.
	Endpoint      string   `yaml:"endpoint" json:"endpoint"`
	PathStyle     bool     `yaml:"path_style" json:"pathStyle"`
	Checksum      string   `yaml:"checksum" json:"checksum"`
	DefaultRegion string   `yaml:"default_region" json:"region"`
	Regions       []string `yaml:"regions" json:"regions,omitempty"`
	Notes         string   `yaml:"notes" json:"notes"`
}

var accountIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,63}$`)

//go:embed providers/*.yaml
var providerFiles embed.FS

// Providers returns the presets, by name.
func Providers() ([]Provider, error) {
	entries, err := fs.ReadDir(providerFiles, "providers")
	if err != nil {
		return nil, err
	}
	var ps []Provider
	for _, e := range entries {
		data, err := providerFiles.ReadFile(path.Join("providers", e.Name()))
		if err != nil {
			return nil, err
		}
		var p Provider
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("provider preset %s: %w", e.Name(), err)
		}
		if p.Name+".yaml" != e.Name() {
			return nil, fmt.Errorf("provider preset %s names itself %q", e.Name(), p.Name)
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, nil
}

// LookupProvider returns the named preset.
func LookupProvider(name string) (Provider, error) {
	ps, err := Providers()
	if err != nil {
		return Provider{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return Provider{}, fmt.Errorf("unknown provider %q (providers: %s)", name, providerNames(ps))
}

func providerNames(ps []Provider) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// apply fills what a connection leaves empty from the preset: region, the
// endpoint (with region and account id put in), path style and checksum
// mode. Values the user gave win. It returns the problems only a preset
// can see (a region it does not serve, an account id its endpoint needs);
// Validate checks the rest.
func (p Provider) apply(c *Connection, accountID string, pathStyleGiven bool) Problems {
	var ps Problems
	if c.Region == "" {
		c.Region = p.DefaultRegion
	}
	// A region that is not one is Validate's to report; it must not reach
	// the endpoint pattern (it becomes part of a host name).
	regionOK := CheckRegion(c.Region) == nil
	if regionOK && len(p.Regions) > 0 && !slices.Contains(p.Regions, c.Region) {
		ps.add(FieldRegion, "must be one of %s for provider %s, got %q", strings.Join(p.Regions, ", "), p.Name, c.Region)
		regionOK = false
	}
	if c.Endpoint == "" && p.Endpoint != "" && regionOK {
		ep := strings.ReplaceAll(p.Endpoint, "{region}", c.Region)
		if strings.Contains(ep, "{account_id}") {
			// It becomes part of the host name, like the region.
			switch {
			case accountID == "":
				ps.add(FieldAccountID, "is required by provider %s (its endpoint is %s)", p.Name, p.Endpoint)
			case !accountIDPattern.MatchString(accountID):
				ps.add(FieldAccountID, "must be 1-63 letters, digits and dashes, got %q", accountID)
			}
			ep = strings.ReplaceAll(ep, "{account_id}", accountID)
		}
		if len(ps) == 0 {
			c.Endpoint = ep
		}
	}
	if p.Name != "aws" && c.Endpoint == "" && regionOK && !ps.has(FieldAccountID) {
		ps.add(FieldEndpoint, "is required by provider %s: %s", p.Name, p.Notes)
	}
	if !pathStyleGiven {
		c.PathStyle = p.PathStyle
	}
	if c.ChecksumMode == "" {
		c.ChecksumMode = p.Checksum
	}
	return ps
}
