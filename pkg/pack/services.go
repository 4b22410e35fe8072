package pack

import (
	"cmp"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/draftk8s/draft/templates"
)

// ServiceKind is what draft knows of a kind of backing service: its
// official image, its port and data folder, the environment its server
// takes its password from, and what the apps that need it read to reach it.
type ServiceKind struct {
	Kind    string
	Image   string // the official image, repository:tag
	Port    int
	DataDir string
	Env     map[string]string // plain settings of the server
	Args    []string          // the server's command line, when the image's default will not do
	// Server is the server's secret environment, given its password.
	Server func(password string) map[string]string
	// Connection is what the apps read, given the service's host name and
	// password: the URL under the name frameworks read, and the variables
	// of the kind's own client libraries.
	Connection func(host string, port int, password string) map[string]string
}

// The database and user of the services that have them.
const serviceDB, serviceUser = "app", "app"

// ServiceKinds are the kinds draft deploys, by name.
var ServiceKinds = map[string]ServiceKind{
	"postgres": {
		Kind: "postgres", Image: "postgres:17", Port: 5432, DataDir: "/var/lib/postgresql/data",
		Env: map[string]string{"PGDATA": "/var/lib/postgresql/data/pgdata"}, // a folder of the volume: its root may hold lost+found
		Server: func(pw string) map[string]string {
			return map[string]string{"POSTGRES_USER": serviceUser, "POSTGRES_PASSWORD": pw, "POSTGRES_DB": serviceDB}
		},
		Connection: func(host string, port int, pw string) map[string]string {
			return map[string]string{
				"DATABASE_URL": fmt.Sprintf("postgres://%s:%s@%s:%d/%s", serviceUser, url.QueryEscape(pw), host, port, serviceDB),
				"PGHOST":       host, "PGPORT": fmt.Sprint(port), "PGUSER": serviceUser, "PGPASSWORD": pw, "PGDATABASE": serviceDB,
				// the names of FastAPI's and many Compose setups' settings
				"POSTGRES_HOST": host, "POSTGRES_SERVER": host, "POSTGRES_PORT": fmt.Sprint(port),
				"POSTGRES_USER": serviceUser, "POSTGRES_PASSWORD": pw, "POSTGRES_DB": serviceDB,
			}
		},
	},
	"mysql": {
		Kind: "mysql", Image: "mysql:8.4", Port: 3306, DataDir: "/var/lib/mysql",
		Server: func(pw string) map[string]string {
			return map[string]string{"MYSQL_ROOT_PASSWORD": pw, "MYSQL_USER": serviceUser, "MYSQL_PASSWORD": pw, "MYSQL_DATABASE": serviceDB}
		},
		Connection: func(host string, port int, pw string) map[string]string {
			return map[string]string{
				"DATABASE_URL": fmt.Sprintf("mysql://%s:%s@%s:%d/%s", serviceUser, url.QueryEscape(pw), host, port, serviceDB),
				"MYSQL_HOST":   host, "MYSQL_PORT": fmt.Sprint(port), "MYSQL_USER": serviceUser, "MYSQL_PASSWORD": pw, "MYSQL_DATABASE": serviceDB,
				"MYSQL_DB": serviceDB,
			}
		},
	},
	"redis": {
		Kind: "redis", Image: "redis:7", Port: 6379, DataDir: "/data",
		Args: []string{"redis-server", "--appendonly", "yes", "--requirepass", "$(REDIS_PASSWORD)"},
		Server: func(pw string) map[string]string {
			return map[string]string{"REDIS_PASSWORD": pw}
		},
		Connection: func(host string, port int, pw string) map[string]string {
			return map[string]string{
				"REDIS_URL":  fmt.Sprintf("redis://:%s@%s:%d/0", url.QueryEscape(pw), host, port),
				"REDIS_HOST": host, "REDIS_PORT": fmt.Sprint(port), "REDIS_PASSWORD": pw,
			}
		},
	},
	"mongodb": {
		Kind: "mongodb", Image: "mongo:7", Port: 27017, DataDir: "/data/db",
		Server: func(pw string) map[string]string {
			return map[string]string{"MONGO_INITDB_ROOT_USERNAME": serviceUser, "MONGO_INITDB_ROOT_PASSWORD": pw, "MONGO_INITDB_DATABASE": serviceDB}
		},
		Connection: func(host string, port int, pw string) map[string]string {
			u := fmt.Sprintf("mongodb://%s:%s@%s:%d/%s?authSource=admin", serviceUser, url.QueryEscape(pw), host, port, serviceDB)
			return map[string]string{"MONGODB_URI": u, "MONGO_URL": u, "DATABASE_URL": u}
		},
	},
}

// ServiceChartDir is where a project's service chart goes, below the root.
func ServiceChartDir(name string) string { return path.Join("charts", name) }

// RenderService renders the chart of a service called name, of kind, with
// image ("" for the kind's) and a volume of storage ("" for 1Gi).
func RenderService(name, kind, image, storage string) ([]File, error) {
	k, ok := ServiceKinds[kind]
	if !ok {
		return nil, fmt.Errorf("draft has no service of kind %q", kind)
	}
	repo, tag, _ := strings.Cut(cmp.Or(image, k.Image), ":")
	type env struct{ Name, Value string }
	data := struct {
		Name, Kind, Repository, Tag, Storage, DataDir, AppEnv, Args string
		Port                                                        int
		Env                                                         []env
	}{Name: name, Kind: k.Kind, Repository: repo, Tag: cmp.Or(tag, "latest"), Storage: cmp.Or(storage, "1Gi"), DataDir: k.DataDir, Port: k.Port}
	var appEnv []string
	for key := range k.Connection("h", 1, "p") {
		appEnv = append(appEnv, key)
	}
	sort.Strings(appEnv)
	data.AppEnv = strings.Join(appEnv, ", ")
	if len(k.Args) > 0 {
		data.Args = "[" + strings.Join(quoted(k.Args), ", ") + "]"
	}
	for _, key := range sortedKeys(k.Env) {
		data.Env = append(data.Env, env{key, k.Env[key]})
	}
	src, _ := fs.Sub(templates.Service, "service")
	var files []File
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		out, err := execute("service chart file "+p, string(b), "[[", "]]", data)
		if err != nil {
			return err
		}
		files = append(files, File{Path: path.Join(ServiceChartDir(name), p), Data: out, Mode: 0o644})
		return nil
	})
	return files, err
}

func quoted(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
