package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types"
	dockerbuild "github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerAPI is the part of the Docker Engine API the builder uses.
type dockerAPI interface {
	Ping(ctx context.Context) (types.Ping, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options dockerbuild.ImageBuildOptions) (dockerbuild.ImageBuildResponse, error)
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	DaemonHost() string
	Close() error
}

var _ dockerAPI = (*client.Client)(nil)

// DockerBuilder builds the Dockerfile with a Docker Engine (or Podman's
// compatible socket, through DOCKER_HOST) and pushes the image through it.
type DockerBuilder struct {
	api        dockerAPI
	keychain   authn.Keychain
	clientOpts []client.Opt
}

var _ Builder = (*DockerBuilder)(nil)

// DockerOption configures a DockerBuilder.
type DockerOption func(*DockerBuilder)

// WithKeychain sets where push credentials come from (authn.DefaultKeychain,
// that is Docker's config and credential helpers, by default).
func WithKeychain(kc authn.Keychain) DockerOption {
	return func(b *DockerBuilder) { b.keychain = kc }
}

// WithDockerClientOptions adds options to the Docker client, after those
// read from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).
func WithDockerClientOptions(opts ...client.Opt) DockerOption {
	return func(b *DockerBuilder) { b.clientOpts = append(b.clientOpts, opts...) }
}

// NewDockerBuilder makes a builder for the engine the environment names.
// It does not connect: Ping says whether the engine is there.
func NewDockerBuilder(opts ...DockerOption) (*DockerBuilder, error) {
	b := &DockerBuilder{keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(b)
	}
	// The engine here speaks API 1.41 (Docker 20.10); negotiation also
	// suits newer engines and Podman.
	c, err := client.NewClientWithOpts(append([]client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}, b.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("setting up the Docker client: %w (check DOCKER_HOST)", err)
	}
	b.api = c
	return b, nil
}

// Close releases the client's connections.
func (b *DockerBuilder) Close() error { return b.api.Close() }

// Ping checks that the engine answers, with the error Build would give if not.
func (b *DockerBuilder) Ping(ctx context.Context) error {
	if _, err := b.api.Ping(ctx); err != nil {
		return b.engineError("reaching the Docker engine", err)
	}
	return nil
}

// Build sends the build context to the engine, builds the Dockerfile with the
// classic builder (BuildKit through the API needs a session the Go client
// does not provide), streams its output to req.Log, and pushes the image
// through the engine.
func (b *DockerBuilder) Build(ctx context.Context, req Request) (*Result, error) {
	if req.Target.RepositoryStr() == "" {
		return nil, errors.New("building the image: no image name to build it as")
	}
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	target := req.Target.Name()
	dockerfile, err := relDockerfile(req.Dir, req.Dockerfile)
	if err != nil {
		return nil, err
	}
	buildCtx, err := ContextTar(ctx, req.Dir, req.Dockerfile)
	if err != nil {
		return nil, err
	}
	defer buildCtx.Close()

	opts := dockerbuild.ImageBuildOptions{
		Tags:        []string{target},
		Dockerfile:  dockerfile,
		BuildArgs:   map[string]*string{},
		Labels:      req.Labels,
		NetworkMode: req.Network,
		Remove:      true,
		ForceRemove: true,
		Version:     dockerbuild.BuilderV1,
	}
	for k, v := range req.BuildArgs {
		opts.BuildArgs[k] = &v
	}
	if req.Platform.OS != "" {
		opts.Platform = req.Platform.String()
	}
	resp, err := b.api.ImageBuild(ctx, buildCtx, opts)
	if err != nil {
		if e := syntaxError(err.Error(), filepath.Join(req.Dir, dockerfile), req.Dir, dockerfile); e != nil {
			return nil, e
		}
		return nil, b.engineError("building the image", ctxErr(ctx, err))
	}
	defer resp.Body.Close()
	out := newOutput(log)
	if _, err := out.decode(resp.Body); err != nil {
		return nil, b.buildError(ctx, err, out, req, dockerfile)
	}
	out.flush()

	digest, err := b.push(ctx, req.Target, out)
	if err != nil {
		return nil, err
	}
	return &Result{Pushed: req.Target.Context().Digest(digest), Path: "docker"}, nil
}

// push pushes target through the engine and returns its digest. The engine
// pushes, not go-containerregistry from the engine's image store
// (daemon.Image), because the engine knows which compressed layers the
// registry already has: reading the image out of the engine would mean
// exporting and compressing every layer again on each push.
func (b *DockerBuilder) push(ctx context.Context, target name.Tag, out *output) (string, error) {
	ref := target.Name()
	auth, err := registryAuth(ctx, b.keychain, target)
	if err != nil {
		return "", err
	}
	rc, err := b.api.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", b.engineError("pushing "+ref+" through the Docker engine", ctxErr(ctx, err))
	}
	defer rc.Close()
	aux, err := out.decode(rc)
	out.flush()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("pushing %s through the Docker engine: %w", ref, ctx.Err())
		}
		var m *engineMessage
		if errors.As(err, &m) {
			return "", fmt.Errorf("pushing %s through the Docker engine: %s%s", ref, m.text, pushHint(m.text, target.RegistryStr()))
		}
		return "", b.engineError("pushing "+ref+" through the Docker engine", err)
	}
	if aux.Digest != "" {
		return aux.Digest, nil
	}
	if out.digest != "" {
		return out.digest, nil
	}
	// An engine that does not report it: the image's repo digests know it.
	inspect, err := b.api.ImageInspect(ctx, ref)
	if err == nil {
		for _, rd := range inspect.RepoDigests {
			if d, err := name.NewDigest(rd); err == nil && d.Context().String() == target.Context().String() {
				return d.DigestStr(), nil
			}
		}
	}
	return "", fmt.Errorf("pushing %s through the Docker engine: the engine did not say which digest it pushed", ref)
}

// registryAuth is the X-Registry-Auth header for target's registry: the
// keychain's credentials, or none.
func registryAuth(ctx context.Context, kc authn.Keychain, target name.Tag) (string, error) {
	var cfg registry.AuthConfig
	a, err := authn.Resolve(ctx, kc, target.Context())
	if err != nil {
		return "", fmt.Errorf("reading the credentials for %s: %w", target.RegistryStr(), err)
	}
	if a != authn.Anonymous {
		ac, err := authn.Authorization(ctx, a)
		if err != nil {
			return "", fmt.Errorf("reading the credentials for %s: %w", target.RegistryStr(), err)
		}
		cfg = registry.AuthConfig{
			Username:      ac.Username,
			Password:      ac.Password,
			Auth:          ac.Auth,
			IdentityToken: ac.IdentityToken,
			RegistryToken: ac.RegistryToken,
			ServerAddress: target.RegistryStr(),
		}
	}
	return registry.EncodeAuthConfig(cfg)
}

func pushHint(msg, reg string) string {
	switch m := strings.ToLower(msg); {
	case strings.Contains(m, "unauthorized") || strings.Contains(m, "authentication required") || strings.Contains(m, "denied"):
		return fmt.Sprintf(" (log in with docker login %s, or check that you may push there)", reg)
	case strings.Contains(m, "server gave http response to https client"):
		return fmt.Sprintf(" (the engine speaks HTTPS to %s: list it under insecure-registries in the engine's daemon.json)", reg)
	case strings.Contains(m, "connection refused") || strings.Contains(m, "no such host"):
		return fmt.Sprintf(" (is the registry %s running, and reachable from the Docker engine?)", reg)
	}
	return ""
}

// engineError turns a client error into one sentence, naming the engine
// when it cannot be reached.
func (b *DockerBuilder) engineError(doing string, err error) error {
	host := b.api.DaemonHost()
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", doing, err)
	case errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "permission denied"):
		return fmt.Errorf("cannot use the Docker engine at %s: permission denied (join the docker group, or set DOCKER_HOST); draft can also build some apps without Docker: --builder daemonless", host)
	case client.IsErrConnectionFailed(err) || errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("cannot reach the Docker engine at %s: start Docker, or set DOCKER_HOST; draft can also build some apps without Docker: --builder daemonless", host)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// ctxErr prefers ctx's error to the transport's account of it.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// BuildError is a failed docker build: which step failed and how.
type BuildError struct {
	Dockerfile string   // the Dockerfile's path
	Step       string   // the failing instruction ("RUN npm ci"); "" before any step
	ExitCode   int      // a failed RUN's exit code, else 0
	Line       int      // a syntax error's line in the Dockerfile, else 0
	Source     string   // that line's text
	Message    string   // the engine's message
	Output     []string // the last lines the step printed
}

func (e *BuildError) Error() string {
	var s strings.Builder
	s.WriteString("building the image: ")
	switch {
	case e.Line > 0:
		fmt.Fprintf(&s, "%s line %d: %s", e.Dockerfile, e.Line, e.Message)
		if e.Source != "" {
			fmt.Fprintf(&s, " (the line reads %q)", e.Source)
		}
		return s.String()
	case e.Step != "" && e.ExitCode != 0:
		fmt.Fprintf(&s, "step %s failed (exit code %d)", shorten(e.Step), e.ExitCode)
	case strings.HasPrefix(strings.ToUpper(e.Step), "FROM "):
		fmt.Fprintf(&s, "step %s failed: cannot pull the base image: %s", shorten(e.Step), e.Message)
	case e.Step != "":
		fmt.Fprintf(&s, "step %s failed: %s", shorten(e.Step), e.Message)
	default:
		s.WriteString(e.Message)
	}
	switch len(e.Output) {
	case 0:
		if e.ExitCode != 0 {
			s.WriteString(", with no output")
		}
	case 1:
		s.WriteString(": " + e.Output[0])
	default:
		s.WriteString(":\n    " + strings.Join(e.Output, "\n    "))
	}
	return s.String()
}

// shorten keeps a long instruction to one readable line.
func shorten(s string) string {
	const max = 100
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

var (
	parseErrorRE = regexp.MustCompile(`(?i)dockerfile parse error (?:on )?line (\d+): (.*)`)
	// Docker's "returned a non-zero code: N", Podman's "exit status N".
	exitCodeRE = regexp.MustCompile(`(?:returned a non-zero code:|exit status) (\d+)`)
)

// syntaxError recognises the engine's Dockerfile parse error.
func syntaxError(msg, shown, dir, dockerfile string) *BuildError {
	m := parseErrorRE.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	e := &BuildError{Dockerfile: shown, Message: strings.TrimSpace(m[2])}
	e.Line, _ = strconv.Atoi(m[1])
	if root, err := os.OpenRoot(orDot(dir)); err == nil {
		if b, err := root.ReadFile(dockerfile); err == nil {
			if lines := strings.Split(string(b), "\n"); e.Line <= len(lines) {
				e.Source = strings.TrimSpace(lines[e.Line-1])
			}
		}
		root.Close()
	}
	return e
}

func orDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// buildError makes the error of a build whose stream ended in an error.
func (b *DockerBuilder) buildError(ctx context.Context, err error, out *output, req Request, dockerfile string) error {
	out.flush()
	if ctx.Err() != nil {
		return fmt.Errorf("building the image: %w", ctx.Err())
	}
	var m *engineMessage
	if !errors.As(err, &m) {
		return b.engineError("building the image", err)
	}
	shown := filepath.Join(req.Dir, dockerfile)
	if e := syntaxError(m.text, shown, req.Dir, dockerfile); e != nil {
		return e
	}
	e := &BuildError{Dockerfile: shown, Step: out.step, Message: m.text, Output: out.tail}
	// Only a RUN has an exit code (errorDetail's code is not always one).
	if c := exitCodeRE.FindStringSubmatch(m.text); c != nil && strings.HasPrefix(strings.ToUpper(e.Step), "RUN") {
		e.ExitCode, _ = strconv.Atoi(c[1])
	}
	return e
}

// engineMessage is an error the engine reported in its message stream.
type engineMessage struct{ text string }

func (m *engineMessage) Error() string { return m.text }

// message is one JSON message of the engine's build and push streams.
type message struct {
	Stream   string          `json:"stream"`
	Status   string          `json:"status"`
	ID       string          `json:"id"`
	Progress json.RawMessage `json:"progressDetail"`
	Bar      string          `json:"progress"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorText string          `json:"error"`
	Aux       json.RawMessage `json:"aux"`
}

// pushAux is the push's out-of-band message; a build's has ID instead.
type pushAux struct {
	Tag    string
	Digest string
	Size   int64
}

// tailLines is how many lines of a failing step's output an error shows.
const tailLines = 12

// output writes the engine's messages to a log as plain lines and keeps what
// an error needs: the current step and its last lines.
type output struct {
	w       io.Writer
	partial string   // a stream line not yet ended
	step    string   // the instruction now running
	tail    []string // its last lines of output
	digest  string   // a digest named in a status line
}

func newOutput(w io.Writer) *output { return &output{w: w} }

var (
	stepRE   = regexp.MustCompile(`(?i)^step \d+/\d+ ?: ?(.*)$`)
	ansiRE   = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	digestRE = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)
	// Builder chatter that is no step's output.
	chatterRE = regexp.MustCompile(`^( ---> |Removing intermediate container |Successfully built |Successfully tagged )`)
)

// statuses not worth a line of their own: transient progress.
var transient = map[string]bool{
	"Preparing": true, "Waiting": true, "Pushing": true, "Downloading": true, "Extracting": true,
	"Verifying Checksum": true, "Download complete": true, "Pulling fs layer": true,
}

// decode reads a message stream to its end or its first error.
func (o *output) decode(r io.Reader) (pushAux, error) {
	var aux pushAux
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			return aux, nil
		} else if err != nil {
			return aux, err
		}
		switch {
		case m.Error != nil || m.ErrorText != "":
			e := &engineMessage{text: m.ErrorText}
			if m.Error != nil && m.Error.Message != "" {
				e.text = m.Error.Message
			}
			e.text = strings.TrimSpace(ansiRE.ReplaceAllString(e.text, ""))
			return aux, e
		case m.Stream != "":
			o.stream(m.Stream)
		case m.Status != "":
			o.status(m)
		}
		if len(m.Aux) > 0 {
			var a pushAux
			if json.Unmarshal(m.Aux, &a) == nil && a.Digest != "" {
				aux = a
			}
		}
	}
}

func (o *output) stream(s string) {
	s = o.partial + ansiRE.ReplaceAllString(s, "")
	lines := strings.Split(s, "\n")
	o.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		o.line(strings.TrimRight(l, "\r"))
	}
}

func (o *output) line(l string) {
	fmt.Fprintln(o.w, l)
	if m := stepRE.FindStringSubmatch(l); m != nil {
		o.step = strings.TrimSpace(m[1])
		o.tail = o.tail[:0]
		return
	}
	if o.step == "" || chatterRE.MatchString(l) || strings.TrimSpace(l) == "" {
		return
	}
	if len(o.tail) == tailLines {
		o.tail = append(o.tail[:0], o.tail[1:]...)
	}
	o.tail = append(o.tail, l)
}

func (o *output) status(m message) {
	if m.ID != "" && (transient[m.Status] || m.Bar != "") {
		return
	}
	if d := digestRE.FindStringSubmatch(m.Status); d != nil {
		o.digest = d[1]
	}
	if m.ID != "" {
		fmt.Fprintf(o.w, "%s: %s\n", m.ID, m.Status)
	} else {
		fmt.Fprintln(o.w, m.Status)
	}
}

// flush writes a last line that did not end.
func (o *output) flush() {
	if o.partial != "" {
		o.line(o.partial)
		o.partial = ""
	}
}
