package detect

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree writes files (path -> content) under a new temporary directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func big(line string, n int) string { return strings.Repeat(line+"\n", n) }

func TestDetect(t *testing.T) {
	js := big("function f(a, b) { return a + b; } // some javascript", 200)
	py := "import os\nprint(os.getcwd())\n"
	tests := []struct {
		name      string
		files     map[string]string
		want      Stack
		wantClose bool
		check     func(t *testing.T, r *Result)
	}{
		{
			name:  "vendored JS bigger than the app",
			files: map[string]string{"app.py": py, "static/vendor/lib.js": js, "static/js/jquery-3.7.1.min.js": js, "node_modules/x/index.js": js},
			want:  Python,
		},
		{
			name: "Django at the root with a large React app in frontend/",
			files: map[string]string{
				"requirements.txt": "Django==5.0\ngunicorn\n", "manage.py": py, "mysite/wsgi.py": py, "mysite/settings.py": py,
				"frontend/package.json": `{"name":"fe"}`, "frontend/src/App.jsx": js, "frontend/src/index.js": js,
			},
			want: Python,
			check: func(t *testing.T, r *Result) {
				if r.Facts.Framework != "django" || r.Facts.Entry != "mysite" || r.Facts.Server != "gunicorn" {
					t.Errorf("facts = %+v, want django, mysite, gunicorn", r.Facts)
				}
			},
		},
		{
			name:  "monorepo with a root manifest",
			files: map[string]string{"go.mod": "module example.com/mono\n\ngo 1.23.4\n", "cmd/mono/main.go": "package main\nfunc main() {}\n", "web/package.json": "{}", "web/src/a.ts": js, "tools/gen.py": big(py, 100)},
			want:  Go,
			check: func(t *testing.T, r *Result) {
				if r.Facts.Version != "1.23.4" || r.Facts.Entry != "./cmd/mono" {
					t.Errorf("facts = %+v, want version 1.23.4 and ./cmd/mono", r.Facts)
				}
			},
		},
		{
			name:  "TypeScript maps to Node.js",
			files: map[string]string{"src/index.ts": big("export const x: number = 1;", 50), "tsconfig.json": "{}"},
			want:  Node,
		},
		{
			name: "Gradle app builds with Gradle",
			files: map[string]string{
				"build.gradle.kts":       "plugins { id(\"org.springframework.boot\") version \"3.3.0\" }\njava { toolchain { languageVersion = JavaLanguageVersion.of(17) } }\n",
				"src/main/kotlin/App.kt": big("fun main() { println(1) }", 20),
			},
			want: Java,
			check: func(t *testing.T, r *Result) {
				if r.Facts.BuildTool != "gradle" || r.Facts.Version != "17" || r.Facts.Framework != "spring-boot" {
					t.Errorf("facts = %+v, want gradle, 17, spring-boot", r.Facts)
				}
			},
		},
		{
			name: "Maven app builds with Maven",
			files: map[string]string{
				"pom.xml":                             `<project><artifactId>shop</artifactId><properties><maven.compiler.release>21</maven.compiler.release></properties></project>`,
				"src/main/java/com/example/Main.java": "package com.example;\npublic class Main { public static void main(String[] a) {} }\n",
				"src/main/java/com/example/Util.java": "package com.example;\nclass Util {}\n",
			},
			want: Java,
			check: func(t *testing.T, r *Result) {
				if r.Facts.BuildTool != "maven" || r.Facts.Version != "21" || r.Facts.Entry != "com.example.Main" {
					t.Errorf("facts = %+v, want maven, 21, com.example.Main", r.Facts)
				}
			},
		},
		{
			name:  "Go app with a large vendor/",
			files: map[string]string{"go.mod": "module a\n\ngo 1.22\n", "main.go": "package main\nfunc main() {}\n", "vendor/github.com/x/y/y.go": big("package y // lots of vendored code here", 5000), "vendor/modules.txt": "# x\n"},
			want:  Go,
			check: func(t *testing.T, r *Result) {
				for _, l := range r.Languages {
					if l.Name == "Go" && l.Bytes > 100 {
						t.Errorf("vendored Go counted: %d bytes", l.Bytes)
					}
				}
			},
		},
		{
			name:  "binary files are not read",
			files: map[string]string{"main.rb": "puts 1\n", "logo.png": "\x89PNG\x00\x00binary", "data.bin": strings.Repeat("\x00\x01", 1000), "lib/x.so": "\x7fELF\x00"},
			want:  Ruby,
			check: func(t *testing.T, r *Result) {
				if r.Sniffed != 0 {
					t.Errorf("read %d files to tell their language, want 0", r.Sniffed)
				}
			},
		},
		{
			name:  ".gitignore is honoured",
			files: map[string]string{".gitignore": "generated/\n*.gen.js\n", "index.php": "<?php echo 1;\n", "generated/big.js": js, "x.gen.js": js},
			want:  PHP,
		},
		{
			name:      "two stacks without manifests, close",
			files:     map[string]string{"a.py": big(py, 10), "b.rb": big("puts 1 # ruby code here", 10)},
			want:      Python,
			wantClose: true,
		},
		{
			name:  "Laravel: composer.json beside package.json",
			files: map[string]string{"composer.json": `{"require":{"php":"^8.2","laravel/framework":"^11.0"}}`, "package.json": `{"devDependencies":{"vite":"5"}}`, "app/Http/Kernel.php": "<?php class Kernel {}\n", "resources/js/app.js": js},
			want:  PHP,
			check: func(t *testing.T, r *Result) {
				if r.Facts.Framework != "laravel" || r.Facts.Version != "^8.2" {
					t.Errorf("facts = %+v, want laravel ^8.2", r.Facts)
				}
			},
		},
		{
			name:  "Express app",
			files: map[string]string{"package.json": `{"name":"api","engines":{"node":">=20"},"scripts":{"start":"node server.js"},"dependencies":{"express":"^4"}}`, "package-lock.json": "{}", "server.js": js},
			want:  Node,
			check: func(t *testing.T, r *Result) {
				f := r.Facts
				if f.Framework != "express" || f.Entry != "server.js" || f.Version != ">=20" || strings.Join(f.DepFiles, ",") != "package.json,package-lock.json" {
					t.Errorf("facts = %+v", f)
				}
			},
		},
		{
			name:  "ambiguous extension is read: .h with C++",
			files: map[string]string{"main.py": py, "x.h": "#include <vector>\nclass X { public: std::vector<int> v; };\n"},
			want:  Python,
			check: func(t *testing.T, r *Result) {
				if r.Sniffed != 1 {
					t.Errorf("sniffed %d files, want 1 (the .h)", r.Sniffed)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Detect(context.Background(), tree(t, tt.files))
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if r.Stack != tt.want {
				t.Fatalf("stack = %s, want %s\n%s", r.Stack, tt.want, r)
			}
			if (r.Close != "") != tt.wantClose {
				t.Errorf("close = %q, want close: %v", r.Close, tt.wantClose)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestDetectNothing(t *testing.T) {
	tests := map[string]map[string]string{
		"empty tree":                   {},
		"docs only":                    {"README.md": "# hi\n", "docs/guide.md": "words\n", "LICENSE": "MIT\n"},
		"only an unsupported language": {"main.rs": "fn main() {}\n"},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Detect(context.Background(), tree(t, files))
			if !errors.Is(err, ErrNoStack) {
				t.Fatalf("err = %v, want ErrNoStack", err)
			}
		})
	}
}

func TestDetectSymlinkLoop(t *testing.T) {
	root := tree(t, map[string]string{"app/main.rb": "puts 1\n"})
	if err := os.Symlink("..", filepath.Join(root, "app", "loop")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if err := os.Symlink("/", filepath.Join(root, "outside")); err != nil {
		t.Fatal(err)
	}
	r, err := Detect(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stack != Ruby || r.Files != 1 {
		t.Fatalf("stack %s after %d files, want ruby after 1 file", r.Stack, r.Files)
	}
}

func TestDetectSkipsVendoredDirectoriesWithoutEnteringThem(t *testing.T) {
	root := tree(t, map[string]string{"app.py": "print(1)\n", "node_modules/a/index.js": "x", "docs/conf.py": "x=1\n"})
	// An unreadable directory inside node_modules would fail the walk if it were entered.
	if err := os.Chmod(filepath.Join(root, "node_modules", "a"), 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(root, "node_modules", "a"), 0o755)
	r, err := Detect(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 1 {
		t.Errorf("looked at %d files, want 1 (node_modules and docs skipped)", r.Files)
	}
	if strings.Join(r.Skipped, ",") != "docs/,node_modules/" && strings.Join(r.Skipped, ",") != "node_modules/,docs/" {
		t.Errorf("skipped %v", r.Skipped)
	}
}

func TestDetectCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Detect(ctx, tree(t, map[string]string{"a.py": "1"})); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A manifest that is there but cannot be read is said, not left out
// silently (as root, permissions do not stop reads: a symlink loop does).
func TestUnreadableManifestIsNoted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"requirements.txt", ".python-version"} {
		if err := os.Symlink(n, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	f := FactsFor(dir, Python)
	notes := strings.Join(f.Notes, "\n")
	for _, n := range []string{"requirements.txt", ".python-version"} {
		if !strings.Contains(notes, n+" is there but cannot be read (too many levels of symbolic links)") {
			t.Errorf("no note for the unreadable %s; notes:\n%s", n, notes)
		}
	}
}

func TestUnreadableManifestIsNotedOnce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("print(1)\n"), 0o644)
	os.Symlink("requirements.txt", filepath.Join(dir, "requirements.txt"))
	f := FactsFor(dir, Python)
	if n := strings.Count(strings.Join(f.Notes, "\n"), "requirements.txt is there but cannot be read"); n != 1 {
		t.Errorf("noted %d times: %q", n, f.Notes)
	}
}

// Facts read from the code and the scripts: a loopback listen, a compile step
// that is not named build, a prepare script, a restart-on-change start.
func TestCodeAndScriptFacts(t *testing.T) {
	hasNote := func(r *Result, s string) bool {
		for _, n := range r.Facts.Notes {
			if strings.Contains(n, s) {
				return true
			}
		}
		return false
	}
	tests := []struct {
		name  string
		files map[string]string
		check func(t *testing.T, r *Result)
	}{
		{"node listens on loopback", map[string]string{
			"package.json": `{"scripts":{"start":"node server.js"},"dependencies":{"express":"^4"}}`,
			"server.js":    "const app = require('express')();\napp.listen(PORT, '127.0.0.1', () => {});\n",
		}, func(t *testing.T, r *Result) {
			if !hasNote(r, "server.js listens on 127.0.0.1 only") {
				t.Errorf("no loopback note: %q", r.Facts.Notes)
			}
		}},
		{"node listens with a host option", map[string]string{
			"package.json": `{"dependencies":{"fastify":"^4"}}`,
			"index.js":     "fastify.listen({ port: 3000, host: \"localhost\" })\n",
		}, func(t *testing.T, r *Result) {
			if !hasNote(r, "index.js listens on localhost only") {
				t.Errorf("no loopback note: %q", r.Facts.Notes)
			}
		}},
		{"node listens on every address", map[string]string{
			"package.json": `{"scripts":{"start":"node server.js"}}`,
			"server.js":    "server.listen(process.env.PORT || 3000, '0.0.0.0')\n",
		}, func(t *testing.T, r *Result) {
			if hasNote(r, "only") {
				t.Errorf("a loopback note for 0.0.0.0: %q", r.Facts.Notes)
			}
		}},
		{"python http.server on localhost", map[string]string{
			"app.py": "from http.server import HTTPServer, SimpleHTTPRequestHandler\nHTTPServer(('localhost', 8000), SimpleHTTPRequestHandler).serve_forever()\n",
		}, func(t *testing.T, r *Result) {
			if !hasNote(r, "app.py listens on localhost only") {
				t.Errorf("no loopback note: %q", r.Facts.Notes)
			}
		}},
		{"tsc in prestart:prod", map[string]string{
			"package.json": `{"scripts":{"prestart:prod":"tsc","start:prod":"node dist/main.js","prepare":"husky install"},"dependencies":{"@nestjs/core":"^6"}}`,
			"src/main.ts":  "bootstrap();\n",
		}, func(t *testing.T, r *Result) {
			if r.Facts.BuildScript != "prestart:prod" || r.Facts.Entry != "dist/main.js" || !r.Facts.Prepare {
				t.Errorf("facts = %+v, want build script prestart:prod, entry dist/main.js, prepare", r.Facts)
			}
		}},
		{"npm start with a prestart", map[string]string{
			"package.json": `{"scripts":{"prestart":"tsc","start":"node-env-run dist/index.js --exec node"}}`,
			"src/index.ts": "x();\n",
		}, func(t *testing.T, r *Result) {
			if r.Facts.BuildScript != "prestart" || r.Facts.Entry != "" {
				t.Errorf("facts = %+v, want build script prestart and npm start", r.Facts)
			}
		}},
		{"a compiling prepare", map[string]string{
			"package.json": `{"main":"lib/index.js","scripts":{"prepare":"tsc -p ."}}`,
			"src/index.ts": "x();\n",
		}, func(t *testing.T, r *Result) {
			if r.Facts.BuildScript != "prepare" {
				t.Errorf("facts = %+v, want build script prepare", r.Facts)
			}
		}},
		{"nodemon start", map[string]string{
			"package.json": `{"scripts":{"start":"nodemon app.js"},"devDependencies":{"nodemon":"^3"}}`,
			"app.js":       "require('http').createServer().listen(3000)\n",
		}, func(t *testing.T, r *Result) {
			if r.Facts.Entry != "app.js" || r.Facts.BuildScript != "" {
				t.Errorf("facts = %+v, want node app.js without a build", r.Facts)
			}
		}},
		{"pnpm lockfile without packageManager", map[string]string{
			"package.json": `{"scripts":{"start":"node index.js"}}`, "pnpm-lock.yaml": "lockfileVersion: '6.0'\n", "index.js": "x()\n",
		}, func(t *testing.T, r *Result) {
			if r.Facts.BuildTool != "pnpm" || r.Facts.Pnpm != "8" {
				t.Errorf("facts = %+v, want pnpm 8", r.Facts)
			}
		}},
		{"pnpm named by packageManager", map[string]string{
			"package.json": `{"packageManager":"pnpm@10.2.0","scripts":{"start":"node index.js"}}`, "pnpm-lock.yaml": "lockfileVersion: '9.0'\n", "index.js": "x()\n",
		}, func(t *testing.T, r *Result) {
			if r.Facts.Pnpm != "" {
				t.Errorf("facts = %+v, want corepack to follow packageManager", r.Facts)
			}
		}},
		{"go reads files at the root at run time", map[string]string{
			"go.mod": "module example.com/t\n\ngo 1.23\n", "index.tmpl": "<h1>x</h1>\n", "helper.go": "package main\n",
			"main.go": "package main\n\nimport \"html/template\"\n\nvar t = template.Must(template.ParseFiles(\"index.tmpl\"))\n\nfunc main() {}\n",
		}, func(t *testing.T, r *Result) {
			if !slices.Equal(r.Facts.RuntimeDirs, []string{"index.tmpl"}) {
				t.Errorf("runtime paths = %q, want index.tmpl", r.Facts.RuntimeDirs)
			}
		}},
		{"settings an env example leaves empty", map[string]string{
			"package.json": `{"scripts":{"start":"node index.js"}}`, "index.js": "x()\n",
			".env.example": "# database\nPOSTGRES_URL=\nNEXTAUTH_URL=http://localhost:3000\nAUTH_SECRET= # make one\nexport API_KEY=\"\"\nDEBUG=false\n",
		}, func(t *testing.T, r *Result) {
			if !hasNote(r, ".env.example leaves POSTGRES_URL, AUTH_SECRET, API_KEY empty") {
				t.Errorf("notes = %q", r.Facts.Notes)
			}
		}},
		{"go without go.mod", map[string]string{"main.go": "package main\nfunc main() {}\n"}, func(t *testing.T, r *Result) {
			if r.Facts.ParentModule != "" || !hasNote(r, "there is no go.mod: the image makes one") {
				t.Errorf("facts = %+v", r.Facts)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Detect(context.Background(), tree(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}
