package build

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// golden reads a Dockerfile that draft create wrote in pkg/action's golden trees.
func golden(t *testing.T, c string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "action", "testdata", "create", c, "want", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnalyzeDraftDockerfiles(t *testing.T) {
	tests := []struct {
		c      string
		kind   string
		reason string
		check  func(t *testing.T, p *Plan)
	}{
		{c: "python-plain", kind: KindSource, check: func(t *testing.T, p *Plan) {
			if p.NeedsPrevious || p.SourceDest != "/app" || p.UID != 10001 || p.GID != 10001 || p.User != "10001:10001" || p.Base != "python:3.12-slim" {
				t.Errorf("plan = %+v", p)
			}
			if !reflect.DeepEqual(p.Cmd, []string{"python", "server.py"}) || !reflect.DeepEqual(p.Expose, []string{"9000"}) {
				t.Errorf("cmd %v expose %v", p.Cmd, p.Expose)
			}
		}},
		{c: "python-flask", kind: KindSource, check: func(t *testing.T, p *Plan) {
			if !p.NeedsPrevious || !reflect.DeepEqual(p.DepFiles, []string{"requirements.txt"}) {
				t.Errorf("plan = %+v", p)
			}
		}},
		{c: "node-express", kind: KindSource, check: func(t *testing.T, p *Plan) {
			if !p.NeedsPrevious || !reflect.DeepEqual(p.DepFiles, []string{"package.json", "package-lock.json"}) {
				t.Errorf("plan = %+v", p)
			}
		}},
		{c: "ruby-plain", kind: KindSource},
		{c: "php-plain", kind: KindSource},
		{c: "go-plain", kind: KindGo, check: func(t *testing.T, p *Plan) {
			if p.GoPackage != "." || !reflect.DeepEqual(p.GoFlags, []string{"-trimpath", "-ldflags=-s -w"}) || p.BinaryDest != "/app" ||
				p.CACerts != "/etc/ssl/certs/ca-certificates.crt" || p.Base != "scratch" || !reflect.DeepEqual(p.Entrypoint, []string{"/app"}) {
				t.Errorf("plan = %+v", p)
			}
			if strings.Join(p.GoEnv, " ") != "CGO_ENABLED=0 GOTOOLCHAIN=local" {
				t.Errorf("go env = %v", p.GoEnv)
			}
		}},
		{c: "go-gin", kind: KindGo, check: func(t *testing.T, p *Plan) {
			if p.GoPackage != "./cmd/api" {
				t.Errorf("package = %s", p.GoPackage)
			}
		}},
		{c: "go-templates", kind: KindGo, check: func(t *testing.T, p *Plan) {
			want := []ContextCopy{{"templates", "/srv/templates"}, {"static", "/srv/static"}}
			if !reflect.DeepEqual(p.Files, want) || p.Workdir != "/srv" {
				t.Errorf("files %+v in %s, want %+v in /srv", p.Files, p.Workdir, want)
			}
		}},
		{c: "ruby-rack", kind: KindSource, check: func(t *testing.T, p *Plan) {
			// the gems come from a compiler stage made of the Gemfile alone
			if !p.NeedsPrevious || !reflect.DeepEqual(p.DepFiles, []string{"Gemfile"}) || p.SourceDest != "/app" {
				t.Errorf("plan = %+v", p)
			}
		}},
		{c: "ruby-rails", reason: "copies more than the binary"},
		{c: "go-cgo-sqlite", reason: "uses cgo"},
		{c: "node-typescript", reason: "copies more than the binary"},
		{c: "java-maven-spring", reason: "no go build"},
		{c: "keeps-dockerfile", kind: KindSource, check: func(t *testing.T, p *Plan) {
			if p.SourceDest != "/srv" || p.UID != 0 || p.NeedsPrevious {
				t.Errorf("plan = %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.c, func(t *testing.T) {
			p, reason := Analyze(golden(t, tt.c))
			if tt.kind == "" {
				if p != nil || !strings.Contains(reason, tt.reason) {
					t.Fatalf("plan %+v, reason %q; want none because %q", p, reason, tt.reason)
				}
				return
			}
			if p == nil || p.Kind != tt.kind {
				t.Fatalf("plan %+v (%s), want kind %s", p, reason, tt.kind)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestAnalyzeRefuses(t *testing.T) {
	for df, want := range map[string]string{
		"FROM python:3.12\nCOPY . .\nRUN echo\n":                          "ends with RUN",
		"FROM python:3.12\nCOPY app.py .\n":                               "not COPY . DEST",
		"FROM python:3.12\nCOPY --chown=app . .\n":                        "numeric ids",
		"ARG V=3\nFROM python:$V\nCOPY . .\n":                             "ARGs before FROM",
		"FROM python:3.12\nHEALTHCHECK CMD true\nCOPY . .\n":              "HEALTHCHECK",
		"FROM golang AS b\nRUN make\nFROM scratch\nCOPY --from=b /x /x\n": "no go build -o /x",
	} {
		if p, reason := Analyze([]byte(df)); p != nil || !strings.Contains(reason, want) {
			t.Errorf("%q: plan %+v, reason %q; want %q", df, p, reason, want)
		}
	}
}

func TestAnalyzeGoFlags(t *testing.T) {
	df := "FROM golang:1.24 AS b\nRUN go build -tags netgo -o /out/x ./cmd/x\nFROM scratch\nCOPY --from=b /out/x /x\nENTRYPOINT [\"/x\"]\n"
	p, reason := Analyze([]byte(df))
	if p == nil || p.GoPackage != "./cmd/x" || !reflect.DeepEqual(p.GoFlags, []string{"-tags=netgo"}) {
		t.Fatalf("plan %+v (%s)", p, reason)
	}
}
