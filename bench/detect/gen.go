//go:build ignore

// gen writes the detection benchmark's tree: a Python app of -py files spread
// over packages, a node_modules of -js files, and a few docs. Run with
// go run gen.go -out DIR.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "", "directory to create")
	py := flag.Int("py", 20000, "Python files")
	js := flag.Int("js", 30000, "files in node_modules")
	flag.Parse()
	if *out == "" {
		log.Fatal("give -out DIR")
	}
	write := func(p, s string) {
		full := filepath.Join(*out, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	write("requirements.txt", "flask==3.0.3\n")
	write("app.py", "from flask import Flask\napp = Flask(__name__)\n")
	write("README.md", "# bench app\n")
	write("package.json", `{"name":"assets","private":true,"devDependencies":{"webpack":"5"}}`+"\n")
	for i := 0; i < *py; i++ {
		write(fmt.Sprintf("app/pkg%03d/mod%03d.py", i/100, i%100),
			fmt.Sprintf("def f%d(x):\n    \"\"\"Module %d.\"\"\"\n    return x * %d + len(str(x))\n\n\nclass C%d:\n    value = %d\n", i, i, i, i, i))
	}
	for i := 0; i < *js; i++ {
		write(fmt.Sprintf("node_modules/pkg%04d/lib/file%02d.js", i/20, i%20),
			fmt.Sprintf("'use strict';\nmodule.exports = function f%d(a, b) {\n  return [a, b, %d].map(function (x) { return x * 2; });\n};\n", i, i))
	}
}
