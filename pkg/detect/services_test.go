package detect

import (
	"fmt"
	"reflect"
	"testing"
)

func TestServicesOf(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stack Stack
		files map[string]string
		want  string
	}{
		{"requirements", Python, map[string]string{"requirements.txt": "Flask==3.0\npsycopg2-binary>=2.9 ; python_version>'3'\nRedis[hiredis]==5\n# pymongo\n"},
			"[postgres psycopg2-binary requirements.txt] [redis redis requirements.txt]"},
		{"pyproject pep621", Python, map[string]string{"pyproject.toml": "[project]\ndependencies = [\"fastapi\", \"asyncpg>=0.29\", \"SQLAlchemy\"]\n"},
			"[postgres asyncpg pyproject.toml]"},
		{"pyproject poetry", Python, map[string]string{"pyproject.toml": "[tool.poetry.dependencies]\npython = \"^3.12\"\npymysql = \"^1.1\"\n"},
			"[mysql pymysql pyproject.toml]"},
		{"node", Node, map[string]string{"package.json": `{"dependencies":{"express":"4","ioredis":"5","pg":"8"},"devDependencies":{"mongodb-memory-server":"9","mongoose":"8"}}`},
			"[postgres pg package.json] [redis ioredis package.json]"},
		{"ruby", Ruby, map[string]string{"Gemfile": "source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\ngem \"pg\", \"~> 1.1\"\ngem 'sidekiq'\n"},
			"[postgres pg Gemfile] [redis sidekiq Gemfile]"},
		{"php", PHP, map[string]string{"composer.json": `{"require":{"php":"^8.2","ext-pdo_pgsql":"*","predis/predis":"^2"}}`},
			"[postgres ext-pdo_pgsql composer.json] [redis predis/predis composer.json]"},
		{"go", Go, map[string]string{"go.mod": "module example.com/api\n\ngo 1.22\n\nrequire (\n\tgithub.com/jackc/pgx/v5 v5.5.0\n\tgithub.com/redis/go-redis/v9 v9.5.1 // indirect\n)\nrequire go.mongodb.org/mongo-driver v1.15.0\n"},
			"[mongodb go.mongodb.org/mongo-driver go.mod] [postgres github.com/jackc/pgx go.mod] [redis github.com/redis/go-redis go.mod]"},
		{"maven", Java, map[string]string{"pom.xml": "<project><dependencies><dependency><groupId>org.postgresql</groupId><artifactId>postgresql</artifactId></dependency></dependencies></project>"},
			"[postgres postgresql pom.xml]"},
		{"gradle", Java, map[string]string{"build.gradle.kts": "dependencies {\n implementation(\"org.springframework.boot:spring-boot-starter-data-redis\")\n runtimeOnly(\"com.mysql:mysql-connector-j\")\n}\n"},
			"[mysql mysql-connector-j build.gradle.kts] [redis spring-boot-starter-data-redis build.gradle.kts]"},
		{"none", Python, map[string]string{"requirements.txt": "flask\n"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			for i, n := range ServicesOf(tree(t, tt.files), tt.stack) {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("[%s %s %s]", n.Kind, n.Package, n.File)
			}
			if got != tt.want {
				t.Errorf("ServicesOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReadCompose(t *testing.T) {
	dir := tree(t, map[string]string{"docker-compose.yml": `
services:
  web:
    build: ./frontend
    ports: ["3000:3000"]
    depends_on: [api]
  api:
    build:
      context: backend
      dockerfile: Dockerfile.dev
    ports:
      - "127.0.0.1:8000:8000/tcp"
    environment:
      DATABASE_URL: postgres://app:app@db:5432/app
      REDIS_URL: redis://cache:6379
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started}
  db:
    image: postgres:16-alpine
    expose: ["5432"]
    environment: ["POSTGRES_PASSWORD=app", "POSTGRES_USER=${PGUSER:-app}"]
  cache:
    image: docker.io/library/redis:7
    command: redis-server --requirepass s3cret
`})
	c, err := ReadCompose(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []ComposeService{
		{Name: "api", Build: "backend", Ports: []int{8000}, DependsOn: []string{"cache", "db"}, Env: []string{"DATABASE_URL", "REDIS_URL"},
			Values: map[string]string{"DATABASE_URL": "postgres://app:app@db:5432/app", "REDIS_URL": "redis://cache:6379"}},
		{Name: "cache", Image: "docker.io/library/redis:7", Kind: "redis", Values: map[string]string{}, Command: []string{"redis-server", "--requirepass", "s3cret"}},
		{Name: "db", Image: "postgres:16-alpine", Kind: "postgres", Ports: []int{5432}, Env: []string{"POSTGRES_PASSWORD", "POSTGRES_USER"}, Values: map[string]string{"POSTGRES_PASSWORD": "app"}},
		{Name: "web", Build: "frontend", Ports: []int{3000}, DependsOn: []string{"api"}, Values: map[string]string{}},
	}
	if c.File != "docker-compose.yml" || !reflect.DeepEqual(c.Services, want) {
		t.Errorf("ReadCompose =\n%+v\nwant\n%+v", c.Services, want)
	}
	if c, err := ReadCompose(t.TempDir()); c != nil || err != nil {
		t.Errorf("no compose file: %v, %v", c, err)
	}
	bad := tree(t, map[string]string{"compose.yaml": "services: [\n"})
	if _, err := ReadCompose(bad); err == nil {
		t.Error("a broken compose.yaml read without an error")
	}
}
