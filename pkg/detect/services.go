package detect

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// ServiceNeed is a backing service that an app's dependencies say it
// talks to: its kind (postgres, mysql, redis, mongodb), the package that
// says so, and the file that lists it.
type ServiceNeed struct {
	Kind    string
	Package string
	File    string
}

// What each ecosystem's client libraries say of the service they reach.
// Names are as the manifests spell them (Python's lower-cased, with -).
var serviceClients = map[Stack]map[string]string{
	Python: {
		"psycopg2": "postgres", "psycopg2-binary": "postgres", "psycopg": "postgres", "psycopg-binary": "postgres", "asyncpg": "postgres", "pg8000": "postgres",
		"pymysql": "mysql", "mysqlclient": "mysql", "mysql-connector-python": "mysql", "aiomysql": "mysql", "asyncmy": "mysql",
		"redis": "redis", "aioredis": "redis", "django-redis": "redis", "hiredis": "redis",
		"pymongo": "mongodb", "motor": "mongodb", "mongoengine": "mongodb", "beanie": "mongodb",
	},
	Node: {
		"pg": "postgres", "postgres": "postgres", "pg-promise": "postgres", "@neondatabase/serverless": "postgres",
		"mysql": "mysql", "mysql2": "mysql",
		"redis": "redis", "ioredis": "redis", "@redis/client": "redis", "bullmq": "redis", "bull": "redis",
		"mongodb": "mongodb", "mongoose": "mongodb",
	},
	Ruby: {"pg": "postgres", "mysql2": "mysql", "trilogy": "mysql", "redis": "redis", "sidekiq": "redis", "mongoid": "mongodb", "mongo": "mongodb"},
	PHP: {
		"ext-pgsql": "postgres", "ext-pdo_pgsql": "postgres", "ext-mysqli": "mysql", "ext-pdo_mysql": "mysql",
		"predis/predis": "redis", "ext-redis": "redis", "mongodb/mongodb": "mongodb", "ext-mongodb": "mongodb",
	},
	Go: {
		"github.com/lib/pq": "postgres", "github.com/jackc/pgx": "postgres", "github.com/go-pg/pg": "postgres", "gorm.io/driver/postgres": "postgres",
		"github.com/go-sql-driver/mysql": "mysql", "gorm.io/driver/mysql": "mysql",
		"github.com/redis/go-redis": "redis", "github.com/go-redis/redis": "redis", "github.com/gomodule/redigo": "redis", "github.com/redis/rueidis": "redis",
		"go.mongodb.org/mongo-driver": "mongodb",
	},
	Java: {
		"postgresql": "postgres", "r2dbc-postgresql": "postgres",
		"mysql-connector-java": "mysql", "mysql-connector-j": "mysql",
		"jedis": "redis", "lettuce-core": "redis", "spring-boot-starter-data-redis": "redis", "redisson": "redis",
		"spring-boot-starter-data-mongodb": "mongodb", "mongodb-driver-sync": "mongodb", "mongodb-driver-reactivestreams": "mongodb",
	},
}

// ServicesOf lists the services an app in dir needs, by the client
// libraries its manifests list, one per kind (the first package found),
// sorted by kind.
func ServicesOf(dir string, stack Stack) []ServiceNeed {
	clients := serviceClients[stack]
	found := map[string]ServiceNeed{}
	add := func(file, pkg string) {
		if kind, ok := clients[pkg]; ok {
			if _, seen := found[kind]; !seen {
				found[kind] = ServiceNeed{Kind: kind, Package: pkg, File: file}
			}
		}
	}
	for _, m := range clientManifests(dir, stack) {
		for _, pkg := range m.packages {
			add(m.file, pkg)
		}
	}
	out := make([]ServiceNeed, 0, len(found))
	for _, n := range found {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

type manifestPackages struct {
	file     string
	packages []string
}

var (
	pyRequirement = regexp.MustCompile(`(?m)^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)
	pyQuoted      = regexp.MustCompile(`["']([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;].*?)?["']`)
	pipfileKey    = regexp.MustCompile(`(?m)^\s*"?([A-Za-z0-9][A-Za-z0-9._-]*)"?\s*=`)
	gemLine       = regexp.MustCompile(`(?m)^\s*gem\s+["']([^"']+)["']`)
	goRequire     = regexp.MustCompile(`(?m)^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+/[^\s]+)\s+v`)
	javaArtifact  = regexp.MustCompile(`<artifactId>\s*([^<\s]+)\s*</artifactId>|["'][^"':\s]+:([^"':\s]+)(?::[^"']*)?["']`)
)

// clientManifests reads the package names the app's manifests list.
func clientManifests(dir string, stack Stack) []manifestPackages {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		return string(b)
	}
	var out []manifestPackages
	collect := func(file string, names []string) {
		if len(names) > 0 {
			out = append(out, manifestPackages{file, names})
		}
	}
	switch stack {
	case Python:
		collect("requirements.txt", pyNames(matches(pyRequirement, read("requirements.txt"))))
		pyproject := read("pyproject.toml") // PEP 621's quoted lists, Poetry's keys
		collect("pyproject.toml", pyNames(append(matches(pyQuoted, pyproject), matches(pipfileKey, pyproject)...)))
		collect("Pipfile", pyNames(matches(pipfileKey, read("Pipfile"))))
	case Node:
		var p struct {
			Deps map[string]string `json:"dependencies"`
		}
		if json.Unmarshal([]byte(read("package.json")), &p) == nil {
			collect("package.json", slices.Sorted(maps.Keys(p.Deps)))
		}
	case Ruby:
		collect("Gemfile", matches(gemLine, read("Gemfile")))
	case PHP:
		var c struct {
			Require map[string]string `json:"require"`
		}
		if json.Unmarshal([]byte(read("composer.json")), &c) == nil {
			collect("composer.json", slices.Sorted(maps.Keys(c.Require)))
		}
	case Go:
		var mods []string
		for _, m := range matches(goRequire, read("go.mod")) {
			mods = append(mods, goModuleBase(m))
		}
		collect("go.mod", mods)
	case Java:
		for _, f := range []string{"pom.xml", "build.gradle", "build.gradle.kts"} {
			collect(f, matches(javaArtifact, read(f)))
		}
	}
	return out
}

// matches are the first non-empty group of each match of re in s.
func matches(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		for _, g := range m[1:] {
			if g != "" {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// pyNames normalises Python package names as pip compares them.
func pyNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(n), "_", "-"), ".", "-")
	}
	return out
}

// goModuleBase is a module path without its major version suffix
// (github.com/jackc/pgx/v5 -> github.com/jackc/pgx).
func goModuleBase(m string) string {
	if i := strings.LastIndex(m, "/v"); i > 0 && strings.Trim(m[i+2:], "0123456789") == "" && len(m) > i+2 {
		return m[:i]
	}
	return m
}
