package build

import (
	"path"
	"slices"

	"github.com/moby/patternmatcher"
)

// SecretPatterns, in .dockerignore syntax, are the files that hold keys and
// credentials and never belong in an image: environment files, private keys
// and certificates' keys, key stores, the credential files of ssh, git, npm,
// PyPI, RubyGems, Composer, Docker, Kubernetes and the clouds, Terraform's
// state. Each matches at every depth. The .dockerignore draft create writes
// ends with them; Inspect finds those a build context lets through.
var SecretPatterns = []string{
	"**/.env", "**/.env.*", "!**/.env.example", "!**/.env.sample", "!**/.env.template", "!**/.env.dist",
	"**/*.pem", "**/*.key", "**/*.p12", "**/*.pfx", "**/*.jks", "**/*.keystore",
	"**/id_rsa*", "**/id_dsa*", "**/id_ecdsa*", "**/id_ed25519*", "**/.ssh",
	"**/.netrc", "**/.git-credentials", "**/.npmrc", "**/.yarnrc.yml", "**/.pypirc",
	"**/.gem/credentials", "**/.composer/auth.json", "**/.docker/config.json",
	"**/.kube/config", "**/kubeconfig", "**/.aws", "**/.azure", "**/.config/gcloud",
	"**/application_default_credentials.json", "**/*.tfstate", "**/*.tfstate.*", "**/.vault-token",
}

// secretMatcher matches SecretPatterns; the patterns are ours and valid.
func secretMatcher() *patternmatcher.PatternMatcher {
	pm, err := patternmatcher.New(SecretPatterns)
	if err != nil {
		panic("build: bad SecretPatterns: " + err.Error())
	}
	return pm
}

// secretPath reports whether the slash path p (relative to the context) is,
// or is inside, one that SecretPatterns match.
func secretPath(pm *patternmatcher.PatternMatcher, p string) bool {
	m, _ := pm.MatchesOrParentMatches(path.Clean(p))
	return m
}

// sortedUnique sorts paths and drops those inside another one listed.
func sortedUnique(paths []string) []string {
	slices.Sort(paths)
	out := paths[:0]
	for _, p := range paths {
		if n := len(out); n > 0 && (p == out[n-1] || len(p) > len(out[n-1]) && p[:len(out[n-1])+1] == out[n-1]+"/") {
			continue
		}
		out = append(out, p)
	}
	return out
}
