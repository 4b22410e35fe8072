package pack

import (
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/draftk8s/draft/templates"
)

// ServiceKind is what draft knows of a kind of backing service: its
// official image, its port and data folder, the environment its server
// takes its user and password from, and what the apps that need it read to
// reach it.
type ServiceKind struct {
	Kind    string
	Image   string // the official image, repository:tag
	Port    int
	DataDir string
	Env     map[string]string // plain settings of the server
	Args    []string          // the server's command line, when the image's default will not do
	// Access is the user and database draft gives the apps when the
	// project names none (the password is made at the first up).
	Access Access
	// PasswordKey is the Server variable that holds the password.
	PasswordKey string
	// Server is the server's secret environment.
	Server func(a Access) map[string]string
	// Connection is what the apps read, given the service's host name and
	// port: the URL under the name frameworks read, and the variables of
	// the kind's own client libraries.
	Connection func(host string, port int, a Access) map[string]string
}

// Access is who the apps are on a service: user, password, database (a
// password "" for none: a Redis without requirepass).
type Access struct {
	User, Password, Database string
}

// userInfo is the user and password part of a URL ("" for neither).
func (a Access) userInfo() string {
	switch {
	case a.User == "" && a.Password == "":
		return ""
	case a.Password == "":
		return url.PathEscape(a.User) + "@"
	}
	return url.PathEscape(a.User) + ":" + url.QueryEscape(a.Password) + "@"
}

// ServiceKinds are the kinds draft deploys, by name.
var ServiceKinds = map[string]ServiceKind{
	"postgres": {
		Kind: "postgres", Image: "postgres:17", Port: 5432, DataDir: "/var/lib/postgresql/data",
		Env:    map[string]string{"PGDATA": "/var/lib/postgresql/data/pgdata"}, // a folder of the volume: its root may hold lost+found
		Access: Access{User: "app", Database: "app"}, PasswordKey: "POSTGRES_PASSWORD",
		Server: func(a Access) map[string]string {
			return map[string]string{"POSTGRES_USER": a.User, "POSTGRES_PASSWORD": a.Password, "POSTGRES_DB": a.Database}
		},
		Connection: func(host string, port int, a Access) map[string]string {
			return map[string]string{
				"DATABASE_URL": fmt.Sprintf("postgres://%s%s:%d/%s", a.userInfo(), host, port, a.Database),
				"PGHOST":       host, "PGPORT": fmt.Sprint(port), "PGUSER": a.User, "PGPASSWORD": a.Password, "PGDATABASE": a.Database,
				// the names of FastAPI's and many Compose setups' settings
				"POSTGRES_HOST": host, "POSTGRES_SERVER": host, "POSTGRES_PORT": fmt.Sprint(port),
				"POSTGRES_USER": a.User, "POSTGRES_PASSWORD": a.Password, "POSTGRES_DB": a.Database,
			}
		},
	},
	"mysql": {
		Kind: "mysql", Image: "mysql:8.4", Port: 3306, DataDir: "/var/lib/mysql",
		Access: Access{User: "app", Database: "app"}, PasswordKey: "MYSQL_PASSWORD",
		Server: func(a Access) map[string]string {
			if a.User == "root" { // the official image refuses MYSQL_USER=root
				return map[string]string{"MYSQL_ROOT_PASSWORD": a.Password, "MYSQL_DATABASE": a.Database, "MYSQL_PASSWORD": a.Password}
			}
			return map[string]string{"MYSQL_ROOT_PASSWORD": a.Password, "MYSQL_USER": a.User, "MYSQL_PASSWORD": a.Password, "MYSQL_DATABASE": a.Database}
		},
		Connection: func(host string, port int, a Access) map[string]string {
			return map[string]string{
				"DATABASE_URL": fmt.Sprintf("mysql://%s%s:%d/%s", a.userInfo(), host, port, a.Database),
				"MYSQL_HOST":   host, "MYSQL_PORT": fmt.Sprint(port), "MYSQL_USER": a.User, "MYSQL_PASSWORD": a.Password, "MYSQL_DATABASE": a.Database,
				"MYSQL_DB": a.Database,
			}
		},
	},
	"redis": {
		Kind: "redis", Image: "redis:7", Port: 6379, DataDir: "/data",
		// an empty password (a Compose file's Redis without one) is none;
		// protected mode off, as the official image builds it: without a
		// password Redis would refuse every client but loopback
		Args:        []string{"redis-server", "--appendonly", "yes", "--protected-mode", "no", "--requirepass", "$(REDIS_PASSWORD)"},
		PasswordKey: "REDIS_PASSWORD",
		Server: func(a Access) map[string]string {
			return map[string]string{"REDIS_PASSWORD": a.Password}
		},
		Connection: func(host string, port int, a Access) map[string]string {
			auth := ""
			if a.Password != "" {
				auth = ":" + url.QueryEscape(a.Password) + "@"
			}
			return map[string]string{
				"REDIS_URL":  fmt.Sprintf("redis://%s%s:%d/0", auth, host, port),
				"REDIS_HOST": host, "REDIS_PORT": fmt.Sprint(port), "REDIS_PASSWORD": a.Password,
			}
		},
	},
	"mongodb": {
		Kind: "mongodb", Image: "mongo:7", Port: 27017, DataDir: "/data/db",
		Access: Access{User: "app", Database: "app"}, PasswordKey: "MONGO_INITDB_ROOT_PASSWORD",
		Server: func(a Access) map[string]string {
			return map[string]string{"MONGO_INITDB_ROOT_USERNAME": a.User, "MONGO_INITDB_ROOT_PASSWORD": a.Password, "MONGO_INITDB_DATABASE": a.Database}
		},
		Connection: func(host string, port int, a Access) map[string]string {
			u := fmt.Sprintf("mongodb://%s%s:%d/%s?authSource=admin", a.userInfo(), host, port, a.Database)
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
	for key := range k.Connection("h", 1, Access{User: "u", Password: "p", Database: "d"}) {
		appEnv = append(appEnv, key)
	}
	sort.Strings(appEnv)
	data.AppEnv = strings.Join(appEnv, ", ")
	if len(k.Args) > 0 {
		data.Args = "[" + strings.Join(quoted(k.Args), ", ") + "]"
	}
	for _, key := range slices.Sorted(maps.Keys(k.Env)) {
		data.Env = append(data.Env, env{key, k.Env[key]})
	}
	src, _ := fs.Sub(templates.Service, "service")
	return renderTree(src, ServiceChartDir(name), "service chart file", data)
}

func quoted(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
