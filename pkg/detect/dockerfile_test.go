package detect

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReadDockerfile(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		port             int
		runAs            RunAs
		sources          []string
	}{
		{"expose in a parent stage", "FROM golang:1.23 AS b\nCOPY . .\nFROM alpine AS rt\nEXPOSE 9555\nFROM rt\nCOPY --from=b /x /x\n", 9555, RunAs{Mode: "root"}, []string{"."}},
		{"first TCP port", "FROM python:3.12\nEXPOSE 53/udp ${PORT} 5050/tcp 6000\nUSER 1000:2000\n", 5050, RunAs{Mode: "uid", UID: 1000, GID: 2000}, nil},
		{"nginx without EXPOSE", "FROM node:20 AS build\nCOPY package.json ./\nFROM docker.io/library/nginx:1.27-alpine\nCOPY --from=build /app/dist /usr/share/nginx/html\n", 80, RunAs{Mode: "root"}, []string{"package.json"}},
		{"unprivileged nginx", "FROM nginxinc/nginx-unprivileged:1.27\nCOPY dist/ /usr/share/nginx/html\nUSER nginx\n", 8080, RunAs{Mode: "name", Name: "nginx"}, []string{"dist/"}},
		{"php apache", "FROM php:8.3-apache\nADD web /var/www/html\n", 80, RunAs{Mode: "root"}, []string{"web"}},
		{"nothing said", "FROM python:3.12\nUSER 0\n", 0, RunAs{Mode: "root"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(p, []byte(tt.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := ReadDockerfile(p)
			if err != nil {
				t.Fatal(err)
			}
			if port, _ := d.Port(); port != tt.port {
				t.Errorf("port %d, want %d", port, tt.port)
			}
			if got := d.RunAs(); got != tt.runAs {
				t.Errorf("runs as %+v, want %+v", got, tt.runAs)
			}
			if !slices.Equal(d.Sources, tt.sources) {
				t.Errorf("sources %q, want %q", d.Sources, tt.sources)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(p, []byte("RUN echo no from\n"), 0o644)
	if _, err := ReadDockerfile(p); err == nil {
		t.Error("a Dockerfile without FROM read without an error")
	}
}

// A root without a manifest that holds apps in folders is refused with the
// list; one without any (a GOPATH-era Go app) is still an app.
func TestNoRootApp(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"backend/requirements.txt":    "fastapi\n",
		"backend/app/main.py":         "app = None\n",
		"frontend/package.json":       `{"name": "frontend"}`,
		"frontend/src/main.ts":        "export const x = 1\n",
		"frontend/src/more.ts":        "export const y = 2\n",
		"services/api/go.mod":         "module api\n",
		"services/api/main.go":        "package main\n",
		"docs/requirements.txt":       "sphinx\n",
		"node_modules/x/package.json": "{}",
	}
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(c), 0o644)
	}
	_, err := Detect(t.Context(), root)
	var nr *NoRootAppError
	if !errors.As(err, &nr) {
		t.Fatalf("Detect: %v, want a NoRootAppError", err)
	}
	want := []SubApp{{"backend", Python}, {"frontend", Node}, {"services/api", Go}}
	if !slices.Equal(nr.Apps, want) {
		t.Errorf("apps %v, want %v", nr.Apps, want)
	}

	gopath := t.TempDir()
	os.WriteFile(filepath.Join(gopath, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	if r, err := Detect(t.Context(), gopath); err != nil || r.Stack != Go {
		t.Errorf("a Go app without go.mod: %v, %v", r, err)
	}
}

// A front-end is its built files when it is only a bundler and a build: a
// start script that runs a server makes it an app like any other.
func TestStaticOutput(t *testing.T) {
	tests := []struct {
		name, framework string
		p               packageJSON
		want            string
	}{
		{"vite", "", packageJSON{Scripts: map[string]string{"dev": "vite", "build": "vite build"}, DevDeps: map[string]string{"vite": "5"}}, "dist"},
		{"vite with its dev server as start", "", packageJSON{Scripts: map[string]string{"start": "vite", "build": "tsc && vite build"}, DevDeps: map[string]string{"vite": "5"}}, "dist"},
		{"create-react-app", "", packageJSON{Scripts: map[string]string{"start": "react-scripts start", "build": "react-scripts build"}, Deps: map[string]string{"react-scripts": "5"}}, "build"},
		{"outDir given", "", packageJSON{Scripts: map[string]string{"build": "vite build --outDir ./public/app"}, DevDeps: map[string]string{"vite": "5"}}, "public/app"},
		{"a server framework", "express", packageJSON{Scripts: map[string]string{"build": "vite build", "start": "node server.js"}, DevDeps: map[string]string{"vite": "5"}}, ""},
		{"a start script that serves", "", packageJSON{Scripts: map[string]string{"build": "vite build", "start": "node server.js"}, DevDeps: map[string]string{"vite": "5"}}, ""},
		{"no build", "", packageJSON{Scripts: map[string]string{"dev": "vite"}, DevDeps: map[string]string{"vite": "5"}}, ""},
		{"angular (its folder is read from angular.json)", "", packageJSON{Scripts: map[string]string{"start": "ng serve", "build": "ng build"}, DevDeps: map[string]string{"@angular/cli": "19"}}, "angular"},
	}
	for _, tt := range tests {
		if got := staticOutput(tt.p, tt.framework); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A version file's comment lines are not the version.
func TestVersionFileComments(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "app.py"), []byte("print('hi')\n"), 0o644)
	os.WriteFile(filepath.Join(root, "requirements.txt"), []byte("flask\n"), 0o644)
	os.WriteFile(filepath.Join(root, ".python-version"), []byte("# written by pyenv local\n\n3.12.4\n"), 0o644)
	r, err := Detect(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	if r.Facts.Version != "3.12.4" {
		t.Errorf("version %q, want 3.12.4", r.Facts.Version)
	}
}

func TestAngularOutput(t *testing.T) {
	for _, tt := range []struct{ json, want string }{
		{`{"projects":{"shop":{"projectType":"application","architect":{"build":{"builder":"@angular-devkit/build-angular:application","options":{"outputPath":"dist/shop"}}}}}}`, "dist/shop/browser"},
		{`{"projects":{"shop":{"projectType":"application","architect":{"build":{"builder":"@angular/build:application","options":{"outputPath":{"base":"out","browser":""}}}}}}}`, "out"},
		{`{"defaultProject":"web","projects":{"lib":{"projectType":"library"},"web":{"projectType":"application","architect":{"build":{"builder":"@angular-devkit/build-angular:browser","options":{"outputPath":"dist/web"}}}}}}`, "dist/web"},
		{`{"projects":{"admin":{"projectType":"application","architect":{"build":{"builder":"@angular-devkit/build-angular:application","options":{}}}}}}`, "dist/admin/browser"},
		{`not json`, "dist"},
	} {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "angular.json"), []byte(tt.json), 0o644)
		if got := angularOutput(root, &Facts{}); got != tt.want {
			t.Errorf("angularOutput(%s) = %q, want %q", tt.json, got, tt.want)
		}
	}
}
