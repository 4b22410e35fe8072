package watch

import (
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	files := map[string]string{
		".dockerignore":     "node_modules\n*.log\n/dist\ndocs\n!docs/api\n**/__pycache__\ncharts\ndraft.toml\nDockerfile\n",
		".draftignore":      "data/\n# a comment\n\nfixtures/*.bin\n",
		".gitignore":        "/build/\n*.o\n!keep.o\ntmp\n",
		"web/.gitignore":    "out/\n/local.js\n",
		".git/info/exclude": "secret.txt\n",
	}
	tests := []struct {
		rel     string
		isDir   bool
		ignored bool
		skip    bool // left out of the walk altogether (directories)
	}{
		{"main.go", false, false, false},
		{"src", true, false, false},
		// always
		{".git", true, true, true},
		{"sub/.git", true, true, true},
		{".git/config", false, true, false},
		{"sub/.git/HEAD", false, true, false},
		{".github", true, false, false},
		{".gitignore", false, false, false},
		// editors
		{".main.go.swp", false, true, false},
		{"src/.main.go.swo", false, true, false},
		{"main.go~", false, true, false},
		{"4913", false, true, false},
		{".#main.go", false, true, false},
		{"#main.go#", false, true, false},
		{"main.go___jb_tmp___", false, true, false},
		{"main.go___jb_old___", false, true, false},
		{"main.go.tmp", false, true, false},
		{".DS_Store", false, true, false},
		{"backup~", true, false, false}, // a directory is not an editor's file
		// .dockerignore
		{"node_modules", true, true, true},
		{"node_modules/x/index.js", false, true, false},
		{"app.log", false, true, false},
		{"logs/app.log", false, false, false}, // *.log is for the root only, as docker has it
		{"dist", true, true, true},
		{"web/dist", true, false, false},
		{"docs", true, true, false}, // !docs/api brings a directory below back
		{"docs/guide.md", false, true, false},
		{"docs/guide", true, true, true},
		{"docs/api", true, false, false},
		{"docs/api/v1.md", false, false, false},
		{"src/pkg/__pycache__", true, true, true},
		// draft's own files, left out of the image, are watched
		{"charts", true, false, false},
		{"charts/app/values.yaml", false, false, false},
		{"draft.toml", false, false, false},
		{"Dockerfile", false, false, false},
		{".dockerignore", false, false, false},
		// .draftignore and WithIgnore
		{"data", true, true, true},
		{"data/x.csv", false, true, false},
		{"fixtures/a.bin", false, true, false},
		{"fixtures/a.txt", false, false, false},
		{"coverage", true, true, true},
		{"src/coverage", true, false, false},
		// .gitignore files, nested ones in their own directory only
		{"build", true, true, true},
		{"build", false, false, false}, // build/ is for directories
		{"src/build", true, false, false},
		{"x.o", false, true, false},
		{"src/y.o", false, true, false},
		{"keep.o", false, false, false},
		{"tmp", true, true, true},
		{"src/tmp", true, true, true},
		{"web/out", true, true, true},
		{"out", true, false, false},
		{"web/local.js", false, true, false},
		{"web/src/local.js", false, false, false},
		{"local.js", false, false, false},
		// .git/info/exclude
		{"secret.txt", false, true, false},
	}
	root := t.TempDir()
	tree(t, root, files)
	r, err := loadRules(root, nil, []string{"/coverage"})
	if err != nil {
		t.Fatal(err)
	}
	r.addGitignore(root+"/.gitignore", nil)
	r.addGitignore(root+"/web/.gitignore", []string{"web"})
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			if got := r.ignored(tt.rel, tt.isDir); got != tt.ignored {
				t.Errorf("ignored(%q, dir=%v) = %v, want %v", tt.rel, tt.isDir, got, tt.ignored)
			}
			if tt.isDir {
				if got := r.skipDir(tt.rel); got != tt.skip {
					t.Errorf("skipDir(%q) = %v, want %v", tt.rel, got, tt.skip)
				}
			}
		})
	}
}

func TestReachesBelow(t *testing.T) {
	tests := []struct {
		pattern, dir string
		want         bool
	}{
		{"docs/api", "docs", true},
		{"docs/api", "docs/guide", false},
		{"docs/api", "docs/api", false}, // the directory itself, not below it
		{"docs/*/v1", "docs/guide", true},
		{"*.go", "src", false},
		{"**/*.go", "src", true},
		{"src/**", "src", true},
		{"a/b/c", "x", false},
	}
	for _, tt := range tests {
		if got := reachesBelow(strings.Split(tt.pattern, "/"), strings.Split(tt.dir, "/")); got != tt.want {
			t.Errorf("reachesBelow(%q, %q) = %v, want %v", tt.pattern, tt.dir, got, tt.want)
		}
	}
}
