package pack

import (
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Each kind's chart lints, renders a Deployment that takes its password
// from the credentials Secret and mounts the kept volume, and a Service by
// the release's name.
func TestRenderServiceCharts(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql", "redis", "mongodb"} {
		t.Run(kind, func(t *testing.T) {
			name := "db-" + kind
			files, err := RenderService(name, kind, "", "")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if _, err := Write(dir, files, false); err != nil {
				t.Fatal(err)
			}
			chartDir := filepath.Join(dir, "charts", name)
			for _, m := range lint.All(chartDir, nil, "default", false).Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
			ch, err := loader.Load(chartDir)
			if err != nil {
				t.Fatal(err)
			}
			rv, err := chartutil.ToRenderValues(ch, nil, chartutil.ReleaseOptions{Name: name, Namespace: "dev", IsInstall: true}, chartutil.DefaultCapabilities)
			if err != nil {
				t.Fatal(err)
			}
			out, err := engine.Render(ch, rv)
			if err != nil {
				t.Fatal(err)
			}
			var dep appsv1.Deployment
			if err := yaml.UnmarshalStrict([]byte(out[name+"/templates/deployment.yaml"]), &dep); err != nil {
				t.Fatalf("deployment: %v\n%s", err, out[name+"/templates/deployment.yaml"])
			}
			k := ServiceKinds[kind]
			c := dep.Spec.Template.Spec.Containers[0]
			if c.Image != k.Image || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("image %s, strategy %s", c.Image, dep.Spec.Strategy.Type)
			}
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != name+"-credentials" {
				t.Errorf("envFrom: %+v", c.EnvFrom)
			}
			if c.Ports[0].ContainerPort != int32(k.Port) || c.VolumeMounts[0].MountPath != k.DataDir {
				t.Errorf("port %d, mount %s", c.Ports[0].ContainerPort, c.VolumeMounts[0].MountPath)
			}
			if dep.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != name+"-data" {
				t.Errorf("volumes: %+v", dep.Spec.Template.Spec.Volumes)
			}
			var pvc corev1.PersistentVolumeClaim
			if err := yaml.UnmarshalStrict([]byte(out[name+"/templates/pvc.yaml"]), &pvc); err != nil {
				t.Fatal(err)
			}
			if pvc.Annotations["helm.sh/resource-policy"] != "keep" || pvc.Spec.Resources.Requests.Storage().String() != "1Gi" {
				t.Errorf("pvc: %+v", pvc)
			}
			var svc corev1.Service
			if err := yaml.UnmarshalStrict([]byte(out[name+"/templates/service.yaml"]), &svc); err != nil {
				t.Fatal(err)
			}
			if svc.Name != name || svc.Spec.Ports[0].Port != int32(k.Port) {
				t.Errorf("service %s port %v", svc.Name, svc.Spec.Ports)
			}
			conn := k.Connection(name, k.Port, Access{User: "app", Password: "p@ss", Database: "app"})
			if u := conn["DATABASE_URL"] + conn["REDIS_URL"]; !strings.Contains(u, "p%40ss@"+name+":") {
				t.Errorf("connection URL %q does not reach %s with the escaped password", u, name)
			}
		})
	}
	if _, err := RenderService("x", "oracle", "", ""); err == nil {
		t.Error("an unknown kind rendered")
	}
	files, _ := RenderService("pg", "postgres", "postgres:15-alpine", "5Gi")
	for _, f := range files {
		if strings.HasSuffix(f.Path, "values.yaml") && (!strings.Contains(string(f.Data), `tag: "15-alpine"`) || !strings.Contains(string(f.Data), "size: 5Gi")) {
			t.Errorf("values with an image and a size:\n%s", f.Data)
		}
	}
}
