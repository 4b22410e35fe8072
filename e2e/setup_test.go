// The cheap part of `make fresh` (e2e/fresh.sh), run by `make test` on every
// machine: the environment's set-up steps (e2e/env/lib.sh), run against a
// dpkg database where the packages are missing, as on a machine that never
// had them. Real dpkg-query reads that database (DPKG_ADMINDIR); apt-get is a
// shell function that records its calls and "installs" by adding the package
// to that database. No build tag: this runs without the environment.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/draftk8s/draft/internal/testenv"
	draftpack "github.com/draftk8s/draft/pkg/pack"
)

// setupScript runs script after sourcing e2e/env/lib.sh with a dpkg database
// holding installed (a package per line) and a recording apt-get. It returns
// the combined output, the apt-get calls and the error of the run.
func setupScript(t *testing.T, installed []string, aptFails bool, script string) (out string, calls []string, err error) {
	t.Helper()
	for _, tool := range []string{"bash", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the set-up steps are Debian's", tool)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	lib := filepath.Join(filepath.Dir(file), "env", "lib.sh")
	dir := t.TempDir()
	admin := filepath.Join(dir, "dpkg")
	if err := os.MkdirAll(filepath.Join(admin, "info"), 0o755); err != nil {
		t.Fatal(err)
	}
	var status strings.Builder
	for _, p := range installed {
		status.WriteString(dpkgEntry(p))
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), []byte(status.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fail := "0"
	if aptFails {
		fail = "1"
	}
	callsFile := filepath.Join(dir, "apt-calls")
	prog := `
export DPKG_ADMINDIR="$ADMIN"
source "$LIB"
POLICY_RC_D="$DIR/policy-rc.d"
apt-get() {
  # what a package's maintainer script would see: may it start its service?
  local policy=none
  [[ -x $POLICY_RC_D ]] && { "$POLICY_RC_D" docker start >/dev/null 2>&1; policy=$?; }
  echo "apt-get $* policy=$policy" >> "$CALLS"
  [[ $1 == update ]] && return 0
  [[ $FAIL == 1 ]] && { echo "E: Unable to locate package" >&2; return 100; }
  local p
  for p in "$@"; do
    [[ $p == -* || $p == install ]] && continue
    printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nMaintainer: t\nDescription: t\n\n' "$p" >> "$ADMIN/status"
  done
}
` + script
	cmd := exec.Command("bash", "-c", prog)
	cmd.Env = append(os.Environ(), "ADMIN="+admin, "LIB="+lib, "DIR="+dir, "CALLS="+callsFile, "FAIL="+fail)
	b, err := cmd.CombinedOutput()
	if c, rerr := os.ReadFile(callsFile); rerr == nil {
		calls = strings.Split(strings.TrimSpace(string(c)), "\n")
	}
	if _, serr := os.Stat(filepath.Join(dir, "policy-rc.d")); serr == nil {
		t.Errorf("policy-rc.d was left behind")
	}
	return string(b), calls, err
}

func dpkgEntry(p string) string {
	return "Package: " + p + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nMaintainer: t\nDescription: t\n\n"
}

// packages lists PACKAGES of lib.sh, read by bash itself.
func packages(t *testing.T) []string {
	out, _, err := setupScript(t, nil, false, `echo "${PACKAGES[*]}"`)
	if err != nil {
		t.Fatalf("listing PACKAGES: %v: %s", err, out)
	}
	return strings.Fields(out)
}

func TestSetupPackagesOnANewMachine(t *testing.T) {
	all := packages(t)
	if len(all) < 10 {
		t.Fatalf("PACKAGES has %d entries: %v", len(all), all)
	}
	cases := []struct {
		name      string
		installed []string
		want      []string // packages apt-get install must be asked for (nil: no apt-get at all)
	}{
		{"none installed", nil, all},
		{"all but two", all[2:], all[:2]},
		{"all installed", all, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, calls, err := setupScript(t, c.installed, false, `ensure_packages; echo "missing after: [$(missing_packages "${PACKAGES[@]}")]"`)
			if err != nil {
				t.Fatalf("ensure_packages aborted: %v\n%s", err, out)
			}
			if !strings.Contains(out, "missing after: []") {
				t.Errorf("packages still missing after ensure_packages:\n%s", out)
			}
			if c.want == nil {
				if len(calls) > 0 {
					t.Errorf("apt-get ran although every package is installed: %q", calls)
				}
				return
			}
			if len(calls) != 2 || !strings.HasPrefix(calls[0], "apt-get update") || !strings.HasPrefix(calls[1], "apt-get install") {
				t.Fatalf("want apt-get update then install, got %q\n%s", calls, out)
			}
			got := map[string]bool{}
			for _, f := range strings.Fields(calls[1]) {
				got[f] = true
			}
			for _, p := range c.want {
				if !got[p] {
					t.Errorf("apt-get install was not asked for %s: %s", p, calls[1])
				}
			}
			for _, p := range c.installed {
				if got[p] {
					t.Errorf("apt-get install was asked for %s, which is installed: %s", p, calls[1])
				}
			}
			if !strings.HasSuffix(calls[1], "policy=101") {
				t.Errorf("services could start during the install (policy-rc.d did not say 101): %s", calls[1])
			}
		})
	}
}

func TestSetupPackagesInstallFails(t *testing.T) {
	out, _, err := setupScript(t, nil, true, `ensure_packages; echo "not reached"`)
	if err == nil || strings.Contains(out, "not reached") {
		t.Fatalf("a failed apt-get install must stop the set-up; got err=%v:\n%s", err, out)
	}
	if !strings.Contains(out, "apt-get install") || !strings.Contains(out, "failed") {
		t.Errorf("the error does not say that apt-get install failed:\n%s", out)
	}
}

func TestSetupMissingPackages(t *testing.T) {
	// a package removed but not purged (config-files) is not installed
	out, _, err := setupScript(t, []string{"curl"}, false, `
printf 'Package: pigz\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\nMaintainer: t\nDescription: t\n\n' >> "$ADMIN/status"
echo "[$(missing_packages curl pigz no-such-package)]"`)
	if err != nil {
		t.Fatalf("missing_packages aborted: %v\n%s", err, out)
	}
	if !strings.Contains(out, "[pigz no-such-package]") {
		t.Errorf("want [pigz no-such-package], got %s", out)
	}
}

// Every base image that a built-in pack's Dockerfile can name, for every
// version the pack knows, has a recipe in e2e/env/images: built on first
// use, it never fails as "not found" in the environment.
func TestSetupEveryPackImageHasARecipe(t *testing.T) {
	all, err := draftpack.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	seen := map[string]bool{}
	inputs := []draftpack.Input{{}, {BuildTool: "maven", DepFiles: []string{"pom.xml"}}, {BuildTool: "gradle", DepFiles: []string{"build.gradle"}}}
	for _, p := range all {
		for _, v := range p.Versions {
			for _, in := range inputs {
				if p.Name == "java" && len(in.DepFiles) == 0 {
					continue // refused: Java builds with Maven or Gradle
				}
				in.App, in.Version = "x", v
				r, err := p.Render(in)
				if err != nil {
					t.Fatalf("pack %s %s: %v", p.Name, v, err)
				}
				for _, f := range r.Files {
					if f.Path != "Dockerfile" {
						continue
					}
					for _, ref := range testenv.FromRefs(string(f.Data)) {
						if !seen[ref] {
							seen[ref] = true
							refs = append(refs, ref)
						}
					}
				}
			}
		}
	}
	_, file, _, _ := runtime.Caller(0)
	out, err := exec.Command("bash", append([]string{filepath.Join(filepath.Dir(file), "env", "images", "mkbase.sh"), "flavor-of"}, refs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mkbase.sh flavor-of: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		ref, flavor, _ := strings.Cut(line, "\t")
		if flavor == "" {
			t.Errorf("no base image recipe provides %s (a pack's Dockerfile names it)", ref)
		}
	}
	if len(refs) < 10 {
		t.Errorf("only %d base images found in the packs: %q", len(refs), refs)
	}
}
