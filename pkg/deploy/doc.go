// Package deploy installs, upgrades, rolls back and uninstalls an
// application's chart as an ordinary Helm 3 release, through the Helm SDK
// (secrets storage, bounded history, so helm list, history and rollback see it),
// and waits for the rollout itself: it watches the release's Deployments,
// ReplicaSets and Pods and returns as soon as the new pods are Ready, rather
// than polling as Helm's --wait does. When the pods cannot become Ready it says
// which pod failed and why (image pull, crash loop with the previous
// container's log, failing probe, unschedulable) and rolls back to the
// revision that was serving. It also recovers a release that an interrupted
// run left pending, and detects an upgrade that would change nothing.
package deploy
