// Command coredns is a trimmed CoreDNS build that gives the e2e environment's
// pods cluster DNS.
//
// It blank-imports only the plugins the environment uses instead of
// github.com/coredns/coredns/core/plugin, which pulls in every plugin (cloud
// DNS providers, etcd, ...) and makes the build much larger and slower. The
// default execution order in dnsserver.Directives is kept: it lists every
// known directive, and those not used in the Corefile are skipped, while one
// whose plugin is not imported fails at startup with "missing a plugin?".
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
