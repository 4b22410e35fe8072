package registry

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client pushes and fetches images.
type Client struct {
	keychain authn.Keychain
	insecure map[string]bool // registries allowed over plain HTTP beyond loopback
	mirrors  []string        // mirrors of Docker Hub, tried in order before it
	base     http.RoundTripper
	retries  int
	idle     time.Duration // how long a connection may make no progress
}

// DefaultIdleTimeout is how long a connection to a registry may send and
// receive nothing before draft gives up on it (and tries again): a registry
// that stops answering mid-push fails the push instead of hanging it.
const DefaultIdleTimeout = 30 * time.Second

// Progress reports a push: bytes sent of the bytes that had to be sent.
type Progress struct {
	Complete, Total int64
}

// Stats tell what a push did.
type Stats struct {
	Uploaded int64 // bytes of blobs sent to the registry
}

// Option configures a Client.
type Option func(*Client)

// WithKeychain replaces authn.DefaultKeychain (the Docker config and its credential helpers).
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithInsecure allows plain HTTP to these registries ("host:port").
func WithInsecure(registries ...string) Option {
	return func(c *Client) {
		for _, r := range registries {
			c.insecure[r] = true
		}
	}
}

// WithMirrors sets the mirrors tried for Docker Hub images ("host:port" or URLs).
func WithMirrors(mirrors ...string) Option {
	return func(c *Client) {
		for _, m := range mirrors {
			m = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "https://"), "http://"), "/")
			if m != "" {
				c.mirrors = append(c.mirrors, m)
			}
		}
	}
}

// WithIdleTimeout replaces DefaultIdleTimeout.
func WithIdleTimeout(d time.Duration) Option { return func(c *Client) { c.idle = d } }

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{keychain: authn.DefaultKeychain, insecure: map[string]bool{}, retries: 4, idle: DefaultIdleTimeout}
	for _, o := range opts {
		o(c)
	}
	c.base = sharedTransport(c.idle)
	return c
}

var (
	transportsMu sync.Mutex
	transports   = map[time.Duration]http.RoundTripper{}
)

// sharedTransport is the one transport of the process for an idle timeout:
// the clients of successive ups (watch mode makes one per redeploy) reuse
// its kept-alive connections, instead of each leaving its own open until
// they time out (two goroutines and a file each).
func sharedTransport(idle time.Duration) http.RoundTripper {
	transportsMu.Lock()
	defer transportsMu.Unlock()
	t, ok := transports[idle]
	if !ok {
		t = idleTransport(idle)
		transports[idle] = t
	}
	return t
}

// idleTransport is go-containerregistry's default transport whose
// connections fail once nothing has moved on them for idle: each read and
// write must make progress within it (a request or idle timeout alone would
// cut a long upload that is going well, or never fire on a stalled one).
func idleTransport(idle time.Duration) http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: idle}, nil
	}
	return t
}

type idleConn struct {
	net.Conn
	idle    time.Duration
	stalled atomic.Bool // once it stalled, every error on it says so
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, c.cause(err)
	}
	n, err := c.Conn.Read(p)
	return n, c.cause(err)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, c.cause(err)
	}
	n, err := c.Conn.Write(p)
	return n, c.cause(err)
}

// cause is err, or a *StalledError when the connection stalled (the error
// of the other direction, once the transport closed it, among them).
func (c *idleConn) cause(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.stalled.Store(true)
	}
	if c.stalled.Load() {
		return &StalledError{Idle: c.idle}
	}
	return err
}

// StalledError is a registry connection on which nothing moved for Idle.
type StalledError struct{ Idle time.Duration }

func (e *StalledError) Error() string {
	return fmt.Sprintf("nothing moved on the connection for %s", e.Idle)
}
func (e *StalledError) Timeout() bool   { return true }
func (e *StalledError) Temporary() bool { return true }

// IsLoopback reports whether a registry host ("host:port") is on this machine.
func IsLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// ParseRepository parses "registry/path" for an app's images, with plain HTTP
// for loopback and insecure registries. A scheme, which image names do not
// have, is taken as meant: https:// is dropped, and http:// asks for plain
// HTTP to that registry (as insecure-registries would).
func (c *Client) ParseRepository(repo string) (name.Repository, error) {
	plain := false
	if rest, ok := strings.CutPrefix(repo, "https://"); ok {
		repo = rest
	} else if rest, ok := strings.CutPrefix(repo, "http://"); ok {
		repo, plain = rest, true
	}
	reg := repo
	if i := strings.IndexByte(repo, '/'); i >= 0 {
		reg = repo[:i]
	}
	if plain {
		c.insecure[reg] = true
	}
	var opts []name.Option
	if IsLoopback(reg) || c.insecure[reg] {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(repo, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%q is not a valid image repository: %w", repo, err)
	}
	return r, nil
}

// options builds go-containerregistry options; uploaded counts blob bytes sent.
func (c *Client) options(ctx context.Context, uploaded *atomic.Int64, progress chan<- v1.Update) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(&guard{base: c.base, insecure: c.insecure, uploaded: uploaded}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: c.retries}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests),
		remote.WithUserAgent("draft"),
	}
	if progress != nil {
		opts = append(opts, remote.WithProgress(progress))
	}
	return opts
}

// PushOption configures one push.
type PushOption func(*pushOptions)

type pushOptions struct {
	progress func(Progress)
}

// WithProgress receives the push's progress (from one goroutine, in order;
// Push returns after the last).
func WithProgress(f func(Progress)) PushOption { return func(o *pushOptions) { o.progress = f } }

// Push writes img to tag and returns its digest. Blobs the registry already
// has are not uploaded.
func (c *Client) Push(ctx context.Context, img v1.Image, tag name.Tag, opts ...PushOption) (name.Digest, Stats, error) {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	var uploaded atomic.Int64
	var updates chan v1.Update
	done := make(chan struct{})
	if o.progress != nil {
		updates = make(chan v1.Update, 16)
		go func() {
			defer close(done)
			for u := range updates {
				o.progress(Progress{Complete: u.Complete, Total: u.Total})
			}
		}()
	} else {
		close(done)
	}
	err := remote.Write(tag, img, c.options(ctx, &uploaded, updates)...)
	<-done
	stats := Stats{Uploaded: uploaded.Load()}
	if err != nil {
		return name.Digest{}, stats, c.describe("pushing to", tag.Context().String(), err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, stats, err
	}
	return tag.Context().Digest(d.String()), stats, nil
}

// Lookup returns the digest tag points at, and false when the registry has no such tag.
func (c *Client) Lookup(ctx context.Context, ref name.Reference) (v1.Hash, bool, error) {
	desc, err := remote.Head(ref, c.options(ctx, nil, nil)...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return v1.Hash{}, false, nil
		}
		return v1.Hash{}, false, c.describe("looking up", ref.String(), err)
	}
	return desc.Digest, true, nil
}

// Image fetches an image for platform. Docker Hub images are fetched from the
// mirrors first, in order, then from Docker Hub (as Docker does: a mirror may
// be a cache that lacks the image). When a mirror has no such image and
// Docker Hub cannot be reached, the error says that in one sentence.
func (c *Client) Image(ctx context.Context, ref name.Reference, platform v1.Platform) (v1.Image, error) {
	var errs []error
	var missing []string // the mirrors that said not found
	cands := c.candidates(ref)
	for i, r := range cands {
		img, err := remote.Image(r, append(c.options(ctx, nil, nil), remote.WithPlatform(platform))...)
		if err == nil {
			return img, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var te *transport.Error
		if i < len(cands)-1 && errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			missing = append(missing, r.Context().RegistryStr())
		}
		errs = append(errs, c.describe("fetching", r.Name(), err))
	}
	if len(missing) > 0 && len(missing) == len(cands)-1 && unreachable(errs[len(errs)-1]) {
		return nil, fmt.Errorf("fetching %s: it is not in the registry mirror %s, and Docker Hub cannot be reached (%v): check the image's name and tag, or add it to the mirror",
			ref, strings.Join(missing, ", "), rootCause(errs[len(errs)-1]))
	}
	return nil, errors.Join(errs...)
}

// unreachable: describe said the registry could not be reached.
func unreachable(err error) bool {
	var ue *unreachableError
	return errors.As(err, &ue)
}

// unreachableError is a registry that could not be reached; it wraps the
// network's error.
type unreachableError struct{ err error }

func (u *unreachableError) Error() string { return u.err.Error() }
func (u *unreachableError) Unwrap() error { return u.err }

// candidates lists where to fetch ref from: mirrors first for Docker Hub.
func (c *Client) candidates(ref name.Reference) []name.Reference {
	if ref.Context().RegistryStr() != name.DefaultRegistry || len(c.mirrors) == 0 {
		return []name.Reference{ref}
	}
	var out []name.Reference
	for _, m := range c.mirrors {
		var opts []name.Option
		if IsLoopback(m) || c.insecure[m] {
			opts = append(opts, name.Insecure)
		}
		s := m + "/" + ref.Context().RepositoryStr()
		var r name.Reference
		var err error
		switch v := ref.(type) {
		case name.Digest:
			r, err = name.NewDigest(s+"@"+v.DigestStr(), opts...)
		default:
			r, err = name.NewTag(s+":"+ref.Identifier(), opts...)
		}
		if err == nil {
			out = append(out, r)
		}
	}
	return append(out, ref)
}

// describe turns registry errors into one sentence that says what to do.
func (c *Client) describe(verb, what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: interrupted: %w", verb, what, context.Canceled)
	}
	var se *StalledError
	if errors.As(err, &se) {
		return fmt.Errorf("%s %s: the registry at %s stopped answering (nothing moved for %s, %d tries); check it and try again", verb, what, registryOf(what), se.Idle, c.retries)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s %s: the registry refused the credentials (HTTP %d): log in with docker login %s", verb, what, te.StatusCode, registryOf(what))
		case http.StatusNotFound:
			return fmt.Errorf("%s %s: not found in the registry", verb, what)
		}
		if te.StatusCode >= 500 {
			return fmt.Errorf("%s %s: the registry failed (HTTP %d) after %d tries; try again later", verb, what, te.StatusCode, c.retries)
		}
	}
	var ge *guardError
	if errors.As(err, &ge) {
		return ge
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%s %s: the registry's certificate is signed by an authority this machine does not trust: add its CA to the system's (update-ca-certificates) or name it in $SSL_CERT_FILE", verb, what)
	case errors.As(err, &hn):
		return fmt.Errorf("%s %s: the registry's certificate is not for %s (%v): use the name it was made for", verb, what, registryOf(what), hn.Error())
	case errors.As(err, &ci):
		return fmt.Errorf("%s %s: the registry's certificate is not valid (%v)", verb, what, ci.Error())
	}
	// (net.ErrClosed: a reset seen as the write on the connection the
	// transport closed after it; a registry that cannot be reached gives a
	// dial error instead.)
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s %s: the registry at %s (or a proxy in front of it) closed the connection mid-request, %d tries (%v); check it and try again", verb, what, registryOf(what), c.retries, rootCause(err))
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") {
		at := registryOf(what)
		if at == name.DefaultRegistry {
			at += " (Docker Hub)"
		}
		return fmt.Errorf("%s %s: cannot reach the registry at %s: is it running and is the address right? (%w)", verb, what, at, &unreachableError{rootCause(err)})
	}
	return fmt.Errorf("%s %s: %w", verb, what, err)
}

// registryOf is the registry of an image reference, as Docker reads one: the
// first part of the name when it has a dot or a colon or is localhost, else
// Docker Hub.
func registryOf(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return name.DefaultRegistry
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// guard refuses plain HTTP to registries that are neither loopback nor marked
// insecure (go-containerregistry would fall back to HTTP for private network
// addresses), and counts the blob bytes uploaded.
type guard struct {
	base     http.RoundTripper
	insecure map[string]bool
	uploaded *atomic.Int64
}

type guardError struct{ host string }

func (g *guardError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to the registry %s: use TLS, or mark it insecure (draft.toml insecure-registries or --insecure-registry %s)", g.host, g.host)
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !IsLoopback(req.URL.Host) && !g.insecure[req.URL.Host] {
		return nil, &guardError{host: req.URL.Host}
	}
	if g.uploaded != nil && req.Body != nil && (req.Method == http.MethodPut || req.Method == http.MethodPatch) && strings.Contains(req.URL.Path, "/blobs/uploads/") {
		req.Body = &countingReader{r: req.Body, n: g.uploaded}
	}
	return g.base.RoundTrip(req)
}

type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// DockerDaemonMirrors reads registry-mirrors from Docker's daemon.json at
// path ("": /etc/docker/daemon.json), so that draft fetches base images
// where docker build would.
func DockerDaemonMirrors(path string) []string {
	if path == "" {
		path = "/etc/docker/daemon.json"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var cfg struct {
		Mirrors []string `json:"registry-mirrors"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return nil
	}
	return cfg.Mirrors
}
