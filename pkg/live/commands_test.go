package live

import "testing"

func TestKnownCommand(t *testing.T) {
	for _, c := range []struct {
		argv []string
		why  string // "" when the app is restarted
		env  bool   // the image gets more env
	}{
		{[]string{"python", "app.py"}, "", false},
		{[]string{"gunicorn", "--bind", "0.0.0.0:8000", "app:app"}, "", false},
		{[]string{"uvicorn", "main:app", "--reload"}, "its server reloads changed files itself", false},
		{[]string{"php", "-S", "0.0.0.0:8080", "-t", "public"}, PHPReads, true},
		{[]string{"apache2-foreground"}, PHPReads, true},
		{[]string{"node", "server.js"}, "", false},
		{[]string{"npx", "nodemon", "server.js"}, "its server reloads changed files itself", false},
		{[]string{"python", "-m", "flask", "run", "--debug"}, "its server reloads changed files itself", false},
		{[]string{"python", "-m", "flask", "run"}, "", false},
		{[]string{"bundle", "exec", "rackup"}, "", false},
	} {
		got := KnownCommand(c.argv)
		if got.Reloads != c.why || (len(got.Env) > 0) != c.env {
			t.Errorf("%q: %+v, want reloads %q, env %v", c.argv, got, c.why, c.env)
		}
	}
}
