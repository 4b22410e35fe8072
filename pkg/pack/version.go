package pack

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

var exactVersionRE = regexp.MustCompile(`^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+.\w]*)?$`)

// ResolveVersion maps what the app says about its runtime version (an exact
// version, a constraint or nothing) to an image tag of the pack. note explains
// a choice the user may want to know about.
func (p *Pack) ResolveVersion(v string) (tag, note string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return p.DefaultVersion, ""
	}
	if m := exactVersionRE.FindStringSubmatch(v); m != nil {
		major, minor := m[1], m[2]
		if major == "1" && minor != "" && p.VersionParts == 1 { // Java's 1.8 is 8
			return minor, ""
		}
		if p.VersionParts == 1 || minor == "" {
			if minor == "" && p.VersionParts == 2 {
				return p.newestMatching(v + ".x")
			}
			return major, ""
		}
		return major + "." + minor, ""
	}
	return p.newestMatching(v)
}

// newestMatching picks the default version when it satisfies constraint c,
// else the newest known version that does.
func (p *Pack) newestMatching(c string) (string, string) {
	cons, err := semver.NewConstraint(normalizeConstraint(c))
	if err != nil {
		return p.DefaultVersion, fmt.Sprintf("cannot read the version constraint %q; using %s", c, p.DefaultVersion)
	}
	for _, known := range append([]string{p.DefaultVersion}, p.Versions...) {
		// A tag such as 3.12 stands for every 3.12.x: try its first and a late patch.
		probes := []string{known + ".0", known + ".999"}
		if p.VersionParts == 1 {
			probes = []string{known + ".0.0", known + ".999.0"}
		}
		for _, probe := range probes {
			if sv, err := semver.NewVersion(probe); err == nil && cons.Check(sv) {
				return known, ""
			}
		}
	}
	return p.DefaultVersion, fmt.Sprintf("no known version satisfies %q; using %s", c, p.DefaultVersion)
}

var pepCompatRE = regexp.MustCompile(`~=\s*(\d+(?:\.\d+)*)`)
var rubyPessimisticRE = regexp.MustCompile(`~>\s*(\d+(?:\.\d+)*)`)

// normalizeConstraint turns the constraint dialects of pip (PEP 440), Bundler
// and Composer into the semver ranges Masterminds reads.
func normalizeConstraint(c string) string {
	c = strings.TrimSpace(c)
	c = pepCompatRE.ReplaceAllStringFunc(c, func(s string) string {
		return compatible(pepCompatRE.FindStringSubmatch(s)[1])
	})
	c = rubyPessimisticRE.ReplaceAllStringFunc(c, func(s string) string {
		return compatible(rubyPessimisticRE.FindStringSubmatch(s)[1])
	})
	c = strings.ReplaceAll(c, "==", "=")
	c = strings.ReplaceAll(c, ".*", ".x")
	return c
}

// compatible renders "~= X.Y" / "~> X.Y" (at least X.Y, below X+1) and
// "~= X.Y.Z" (at least X.Y.Z, below X.Y+1).
func compatible(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) <= 2 {
		return "^" + v
	}
	return "~" + v
}
