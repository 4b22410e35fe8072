package config

import "regexp"

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// maxAppName leaves room in the 63 characters of a Kubernetes name for Helm's suffixes.
const maxAppName = 53

// ValidateAppName returns "" for a valid app (release) name, else the rule it breaks.
func ValidateAppName(name string) string {
	switch {
	case name == "":
		return "the name is empty"
	case len(name) > maxAppName:
		return "a name must be at most 53 characters (Helm's limit for release names)"
	case !dns1123.MatchString(name):
		return "a name must be lower-case letters, digits and '-', and start and end with a letter or digit (DNS-1123)"
	}
	return ""
}
