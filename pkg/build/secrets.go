package build

import (
	"path"
	"slices"
	"strings"
	"sync"
)

// SecretPatterns, in .dockerignore syntax, are the files that hold keys and
// credentials and never belong in an image: environment files, private keys
// and certificates' keys, key stores, the credential files of ssh, git, npm,
// PyPI, RubyGems, Composer, Docker, Kubernetes and the clouds, Terraform's
// state. Each matches at every depth (**/ and a name, or a folder and a name).
// The .dockerignore draft create writes ends with them; Inspect finds those a
// build context lets through.
var SecretPatterns = []string{
	"**/.env", "**/.env.*", "!**/.env.example", "!**/.env.sample", "!**/.env.template", "!**/.env.dist",
	"**/*.pem", "**/*.key", "**/*.p12", "**/*.pfx", "**/*.jks", "**/*.keystore",
	"**/id_rsa*", "**/id_dsa*", "**/id_ecdsa*", "**/id_ed25519*", "**/.ssh",
	"**/.netrc", "**/.git-credentials", "**/.npmrc", "**/.yarnrc.yml", "**/.pypirc",
	"**/.gem/credentials", "**/.composer/auth.json", "**/.docker/config.json",
	"**/.kube/config", "**/kubeconfig", "**/.aws", "**/.azure", "**/.config/gcloud",
	"**/application_default_credentials.json", "**/*.tfstate", "**/*.tfstate.*", "**/.vault-token",
}

// secretRules are SecretPatterns made cheap to test on every path of a
// context (Inspect runs on every up): a glob on the base name, or the last
// two names; an exception is a base name. patternmatcher's regular
// expressions for **/ cost 7 µs a path, and doubled the context digest's
// time; TestSecretRulesAgreeWithDockerignore holds the two to one meaning.
type secretRules struct {
	names         []nameGlob
	pairs, except []string
}

// nameGlob is one glob on a base name, sorted by its shape once: a name,
// NAME* or *.EXT are string compares; anything else goes to path.Match.
type nameGlob struct {
	kind byte // '=' the name, '^' a prefix, '$' a suffix, '*' path.Match
	s    string
}

func newNameGlob(g string) nameGlob {
	switch meta := strings.IndexAny(g, "*?[\\"); {
	case meta < 0:
		return nameGlob{'=', g}
	case meta == len(g)-1 && g[meta] == '*':
		return nameGlob{'^', g[:meta]}
	case meta == 0 && g[0] == '*' && !strings.ContainsAny(g[1:], "*?[\\"):
		return nameGlob{'$', g[1:]}
	}
	return nameGlob{'*', g}
}

func (g nameGlob) match(name string) bool {
	switch g.kind {
	case '=':
		return name == g.s
	case '^':
		return strings.HasPrefix(name, g.s)
	case '$':
		return strings.HasSuffix(name, g.s)
	}
	ok, _ := path.Match(g.s, name)
	return ok
}

var secrets = sync.OnceValue(func() secretRules {
	var r secretRules
	for _, p := range SecretPatterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "**/")
		switch {
		case neg:
			r.except = append(r.except, p)
		case strings.Contains(p, "/"):
			r.pairs = append(r.pairs, p)
		default:
			r.names = append(r.names, newNameGlob(p))
		}
	}
	return r
})

// secretPath reports whether the slash path p (relative to the context) is
// one that SecretPatterns match. (A folder they match is a path of its own
// in the walk; what is inside it is reported as that folder.)
func secretPath(p string) bool {
	r := secrets()
	p = path.Clean(p)
	base := path.Base(p)
	if slices.Contains(r.except, base) {
		return false
	}
	for _, g := range r.names {
		if g.match(base) {
			return true
		}
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		last2 := p[strings.LastIndexByte(p[:i], '/')+1:]
		return slices.Contains(r.pairs, last2)
	}
	return false
}

// sortedUnique sorts paths and drops those inside another one listed.
func sortedUnique(paths []string) []string {
	slices.Sort(paths)
	out := paths[:0]
	for _, p := range paths {
		if n := len(out); n > 0 && (p == out[n-1] || strings.HasPrefix(p, out[n-1]+"/")) {
			continue
		}
		out = append(out, p)
	}
	return out
}
