package action

import (
	"context"
	"slices"
	"time"
)

// Session is draft up as the command runs it: one up, or watch mode (an up
// on every change), and then, with auto-connect, connect until ctx ends.
// draft.toml's watch and auto-connect decide unless Watch or AutoConnect
// is set (a flag given on the command line).
type Session struct {
	Up          *Up
	Watch       *bool         // nil: draft.toml's watch
	AutoConnect *bool         // nil: draft.toml's auto-connect
	Delay       time.Duration // watch mode's quiet period; 0: draft.toml's watch-delay, else the default
	// NoLiveUpdate turns watch mode's live update off (draft.toml's
	// live-update = false does too); KeepLive leaves its image deployed
	// when the watch ends.
	NoLiveUpdate, KeepLive bool
	// Connect is how to connect (its output, its OnReady); its Target is
	// set to Up's, with the cluster up resolved.
	Connect *Connect
	// Done, when set, is told of the one up's result (not in watch mode),
	// after the summary and before any connect; at a project's root, of
	// each app's.
	Done func(*UpResult)
	// Names, at a project's root, are the apps and services to up (with
	// what they need); none for all.
	Names []string
	// ProjectReady, at a project's root with auto-connect, is told of every
	// app's ports once they listen (Connect.OnReady is for one app's).
	ProjectReady func(apps []string, ports map[string][]PortMapping)
}

// Run does the session; it returns up's error, watch mode's or connect's.
func (s *Session) Run(ctx context.Context) error {
	u := s.Up
	if u.IsProject() {
		return s.runProject(ctx)
	}
	watching, connecting := s.Watch, s.AutoConnect
	if watching == nil || connecting == nil {
		var fromFile struct{ watch, connect bool }
		// Without a draft.toml up itself says so.
		if a, err := u.load(); err == nil {
			fromFile.watch, fromFile.connect = a.env.Watch, a.env.AutoConnect
		}
		if watching == nil {
			watching = &fromFile.watch
		}
		if connecting == nil {
			connecting = &fromFile.connect
		}
	}
	var connected func(context.Context) error
	if *connecting && s.Connect != nil {
		connected = func(ctx context.Context) error {
			c := *s.Connect
			c.Target = u.Target          // the cluster up resolved
			if lv := u.live; lv != nil { // watch mode's live update: a request its restart cut is sent again
				c.restarted = func(_, pod string, since time.Time) bool { return lv.restartedSince(pod, since) }
			}
			if c.UI == nil {
				c.UI = u.UI
			}
			return c.Run(ctx)
		}
	}
	if *watching {
		return (&Watch{Up: u, Delay: s.Delay, Connected: connected, Live: !s.NoLiveUpdate, KeepLive: s.KeepLive}).Run(ctx)
	}
	res, err := u.Run(ctx)
	if err != nil {
		return err
	}
	u.say("%s", UpSummary(res))
	if s.Done != nil {
		s.Done(res)
	}
	switch {
	case connected != nil:
		u.say("connecting: Ctrl-C to stop")
		return connected(ctx)
	case !res.Unchanged:
		u.say("reach it with: draft connect")
	}
	return nil
}

// runProject ups a project's apps and services: once, or in watch mode
// (with live update unless told not to), and connects when asked.
func (s *Session) runProject(ctx context.Context) error {
	u := s.Up
	watching := s.Watch != nil && *s.Watch
	pu := &ProjectUp{Up: *u, Only: s.Names}
	var pw *ProjectWatch
	if watching {
		pw = &ProjectWatch{Up: *pu, Delay: s.Delay, Live: !s.NoLiveUpdate, KeepLive: s.KeepLive}
		pu = &pw.Up // the watch's ups resolve the cluster that connect takes
	}
	var connected func(context.Context) error
	if s.AutoConnect != nil && *s.AutoConnect && s.Connect != nil {
		connected = func(ctx context.Context) error {
			c := *s.Connect
			c.Target, c.OnReady = pu.Up.Target, nil // the project's root, with the cluster up resolved
			if pw != nil && len(pw.Up.lives) > 0 {
				lives := pw.Up.lives
				c.restarted = func(release, pod string, since time.Time) bool {
					lv := lives[release]
					return lv != nil && lv.restartedSince(pod, since)
				}
			}
			if c.UI == nil {
				c.UI = u.UI
			}
			apps := s.Names
			if a, err := pu.Up.loadProject(); err == nil && a != nil && len(apps) > 0 {
				apps = slices.DeleteFunc(slices.Clone(apps), func(n string) bool { return a.cfg.Apps[n] == nil })
			}
			return (&ProjectConnect{Connect: c, Only: apps, OnReady: s.ProjectReady}).Run(ctx)
		}
	}
	if watching {
		pw.Connected = connected
		return pw.Run(ctx)
	}
	res, err := pu.Run(ctx)
	if res != nil {
		for _, line := range ProjectSummary(res) {
			u.say("%s", line)
		}
		for _, n := range res.Order {
			if r := res.Apps[n]; r != nil && s.Done != nil {
				s.Done(r)
			}
		}
	}
	if err != nil || connected == nil {
		return err
	}
	u.say("connecting: Ctrl-C to stop")
	return connected(ctx)
}
