package config

import (
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse or Validate panic, and that a
// configuration that validates once still validates after a second pass.
func FuzzParse(f *testing.F) {
	f.Add("data_dir: x\n")
	f.Add("connections:\n  - name: a\n    address: h:1\n    password: ${X}\n")
	f.Add("policies:\n  - name: p\n    subjects: ['*']\n    connections: [tag:env=prod]\n")
	f.Add("gateway: [1, 2]\n")
	f.Add("&a [*a]\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse(strings.NewReader(src), func(string) (string, bool) { return "v", true })
		if err != nil {
			return
		}
		if c.Validate() == nil {
			if err := c.Validate(); err != nil {
				t.Fatalf("validated once, then failed: %v", err)
			}
		}
	})
}
