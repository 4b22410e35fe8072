package pack

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

var exactVersionRE = regexp.MustCompile(`^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+.\w]*)?$`)

// ResolveVersion maps what the app says about its runtime version (an exact
// version, a constraint or nothing) to an image tag of the pack. note explains
// a choice the user may want to know about.
func (p *Pack) ResolveVersion(v string) (tag, note string) {
	tag, note = p.resolveVersion(v)
	if note == "" && tag != "" && len(p.Versions) > 0 && !slices.Contains(p.Versions, tag) {
		note = p.unknownVersion(tag)
	}
	return tag, note
}

// unknownVersion tells of a version the app pins that is not among the
// pack's: used as asked, but said, and which way it is off.
func (p *Pack) unknownVersion(tag string) string {
	tv, err := semver.NewVersion(tag)
	if err != nil {
		return fmt.Sprintf("the app asks for %s %s, which draft does not know (it knows %s): the Dockerfile uses it as asked", p.Name, tag, strings.Join(p.Versions, ", "))
	}
	oldest, newest := p.Versions[len(p.Versions)-1], p.Versions[0]
	if ov, err := semver.NewVersion(oldest); err == nil && tv.LessThan(ov) {
		return fmt.Sprintf("the app asks for %s %s, older than any version draft knows (the oldest is %s): the Dockerfile uses %s as asked; if it is past its end of life, its image or packages may not be had: raise it", p.Name, tag, oldest, tag)
	}
	if nv, err := semver.NewVersion(newest); err == nil && tv.GreaterThan(nv) {
		return fmt.Sprintf("the app asks for %s %s, newer than the versions draft knows (the newest is %s): the Dockerfile uses %s as asked", p.Name, tag, newest, tag)
	}
	return fmt.Sprintf("the app asks for %s %s, which is not among the versions draft knows (%s): the Dockerfile uses it as asked", p.Name, tag, strings.Join(p.Versions, ", "))
}

func (p *Pack) resolveVersion(v string) (tag, note string) {
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

var composerOrRE = regexp.MustCompile(`\s*\|\|?\s*`)

// satisfies: the image tag (3.12 stands for every 3.12.x) can meet constraint c.
func (p *Pack) satisfies(tag, c string) bool {
	cons, err := semver.NewConstraint(normalizeConstraint(c))
	if err != nil {
		return true // unreadable: nothing to hold the tag to
	}
	probes := []string{tag + ".0", tag + ".999"}
	if p.VersionParts == 1 {
		probes = []string{tag + ".0.0", tag + ".999.0"}
	}
	for _, probe := range probes {
		if sv, err := semver.NewVersion(probe); err == nil && cons.Check(sv) {
			return true
		}
	}
	return false
}

// withinBounds holds the tag chosen for the app's own version v to the
// bounds its lockfile or framework sets: the first known version (the
// default, then the newest down) that meets v and every bound, or the tag
// as chosen with a note saying which bound it breaks and why none fits.
func (p *Pack) withinBounds(v, tag, note string, bounds map[string]string) (string, string) {
	broken := func(t string) (string, string) {
		for _, c := range slices.Sorted(maps.Keys(bounds)) {
			if !p.satisfies(t, c) {
				return c, bounds[c]
			}
		}
		return "", ""
	}
	c, who := broken(tag)
	if c == "" {
		return tag, note
	}
	v = strings.TrimSpace(v)
	for _, known := range append([]string{p.DefaultVersion}, p.Versions...) {
		if known == tag || (v != "" && !p.satisfies(known, v)) {
			continue
		}
		if bc, _ := broken(known); bc == "" {
			return known, fmt.Sprintf("%s needs %s %s: the Dockerfile uses %s, not %s", who, p.Name, c, known, tag)
		}
	}
	also := ""
	if v != "" {
		also = " together with the app's own " + v
	}
	return tag, fmt.Sprintf("%s needs %s %s, and no version draft knows (%s) meets it%s: the Dockerfile uses %s, on which the app may not run; upgrade what needs the old version, or edit the Dockerfile's FROM",
		who, p.Name, c, strings.Join(p.Versions, ", "), also, tag)
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
	c = composerOrRE.ReplaceAllString(c, " || ") // Composer's "^7.4|^8.0"
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
