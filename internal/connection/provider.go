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
	Name  string `yaml:"name"`
	Title string `yaml:"title"`
	// Endpoint is a URL pattern; {region} and {account_id} are filled in.
	// Empty means the AWS SDK's own endpoint (AWS), or that the user must
	// give one.
	Endpoint      string   `yaml:"endpoint"`
	PathStyle     bool     `yaml:"path_style"`
	Checksum      string   `yaml:"checksum"`
	DefaultRegion string   `yaml:"default_region"`
	Regions       []string `yaml:"regions"`
	Notes         string   `yaml:"notes"`
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
	var names []string
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Provider{}, fmt.Errorf("unknown provider %q (providers: %s)", name, strings.Join(names, ", "))
}

// Apply fills what a connection leaves empty from the preset: region, the
// endpoint (with region and account id put in), path style and checksum
// mode. Values the user gave win.
func (p Provider) Apply(c *Connection, accountID string, pathStyleGiven bool) error {
	if c.Region == "" {
		c.Region = p.DefaultRegion
	}
	if err := CheckRegion(c.Region); err != nil {
		return fmt.Errorf("provider %s: %w", p.Name, err)
	}
	if len(p.Regions) > 0 && !slices.Contains(p.Regions, c.Region) {
		return fmt.Errorf("provider %s: region must be one of %s, got %q", p.Name, strings.Join(p.Regions, ", "), c.Region)
	}
	if c.Endpoint == "" && p.Endpoint != "" {
		ep := strings.ReplaceAll(p.Endpoint, "{region}", c.Region)
		if strings.Contains(ep, "{account_id}") {
			if accountID == "" {
				return fmt.Errorf("provider %s needs --account-id (its endpoint is %s)", p.Name, p.Endpoint)
			}
			// It becomes part of the host name, like the region.
			if !accountIDPattern.MatchString(accountID) {
				return fmt.Errorf("provider %s: --account-id must be 1-63 letters, digits and dashes, got %q", p.Name, accountID)
			}
			ep = strings.ReplaceAll(ep, "{account_id}", accountID)
		}
		c.Endpoint = ep
	}
	if p.Name != "aws" && c.Endpoint == "" {
		return fmt.Errorf("provider %s needs --endpoint: %s", p.Name, p.Notes)
	}
	if !pathStyleGiven {
		c.PathStyle = p.PathStyle
	}
	if c.ChecksumMode == "" {
		c.ChecksumMode = p.Checksum
	}
	return nil
}
