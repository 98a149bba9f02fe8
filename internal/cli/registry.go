package cli

// Connection to a Confluent-compatible schema registry (Sluice's built-in
// one, Confluent's, Karapace): the flags 'sluice schema' and the
// --value-schema/--key-schema modes of produce and consume share, and
// registry errors shown with Confluent's error code.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// defaultRegistry is used when neither --registry nor SLUICE_REGISTRY is set.
const defaultRegistry = "http://127.0.0.1:8081"

// registryFlags are the settings of a registry connection.
type registryFlags struct {
	url      string
	user     string
	password string
	tlsCA    string
	tlsCert  string
	tlsKey   string
	tlsNoVer bool
	timeout  time.Duration

	urls []string
}

// registerRegistryFlags adds the registry flags to fs; withTimeout adds
// --timeout too (commands that already have one share it via timeout()).
func registerRegistryFlags(fs *flag.FlagSet, withTimeout bool) *registryFlags {
	rf := &registryFlags{timeout: 30 * time.Second}
	fs.StringVar(&rf.url, "registry", "", "schema registry `URL` (default $SLUICE_REGISTRY, else "+defaultRegistry+")")
	fs.StringVar(&rf.user, "registry-user", "", "HTTP basic auth user of the registry (default $SLUICE_REGISTRY_USER)")
	fs.StringVar(&rf.password, "registry-password", "", "HTTP basic auth password (default $SLUICE_REGISTRY_PASSWORD; prefer the environment)")
	fs.StringVar(&rf.tlsCA, "registry-tls-ca", "", "PEM `FILE` of CA certificates to verify an https registry with (default: the system's)")
	fs.StringVar(&rf.tlsCert, "registry-tls-cert", "", "PEM `FILE` with a client certificate for the registry (with --registry-tls-key)")
	fs.StringVar(&rf.tlsKey, "registry-tls-key", "", "PEM `FILE` with the client certificate's private key")
	fs.BoolVar(&rf.tlsNoVer, "registry-tls-insecure-skip-verify", false, "do not verify the registry's certificate (testing only)")
	if withTimeout {
		fs.DurationVar(&rf.timeout, "timeout", 30*time.Second, "give up on the registry after this long per request")
	}
	return rf
}

// finish fills defaults from the environment and validates.
func (rf *registryFlags) finish(getenv func(string) string) error {
	u := rf.url
	if u == "" {
		u = getenv("SLUICE_REGISTRY")
	}
	if u == "" {
		u = defaultRegistry
	}
	rf.urls = nil
	for _, s := range strings.Split(u, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		pu, err := url.Parse(s)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return usagef("--registry %q: want http(s)://HOST:PORT", s)
		}
		rf.urls = append(rf.urls, strings.TrimSuffix(s, "/"))
	}
	if len(rf.urls) == 0 {
		return usagef("--registry %q: no URL", u)
	}
	if rf.user == "" {
		rf.user = getenv("SLUICE_REGISTRY_USER")
	}
	if rf.password == "" {
		rf.password = getenv("SLUICE_REGISTRY_PASSWORD")
	}
	if rf.password != "" && rf.user == "" {
		return usagef("--registry-password needs --registry-user")
	}
	if (rf.tlsCert == "") != (rf.tlsKey == "") {
		return usagef("--registry-tls-cert and --registry-tls-key go together")
	}
	if rf.timeout <= 0 {
		return usagef("--timeout %v: want a positive duration", rf.timeout)
	}
	return nil
}

// httpClient is the HTTP client with the TLS settings.
func (rf *registryFlags) httpClient() (*http.Client, error) {
	tf := clientFlags{tls: true, tlsCA: rf.tlsCA, tlsCert: rf.tlsCert, tlsKey: rf.tlsKey, tlsNoVer: rf.tlsNoVer}
	tc, err := tf.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("registry TLS: %s", strings.NewReplacer("--tls-", "--registry-tls-").Replace(err.Error()))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Timeout: rf.timeout, Transport: tr}, nil
}

// client returns a franz-go sr client of the registry.
func (rf *registryFlags) client() (*sr.Client, error) {
	hc, err := rf.httpClient()
	if err != nil {
		return nil, err
	}
	opts := []sr.ClientOpt{sr.URLs(rf.urls...), sr.HTTPClient(hc), sr.UserAgent("sluice-cli")}
	if rf.user != "" {
		opts = append(opts, sr.BasicAuth(rf.user, rf.password))
	}
	return sr.NewClient(opts...)
}

// registryErr explains a failed registry request: Confluent's message with
// its error code ("Subject 'x' not found. (error 40401)"), a timeout, or
// an unreachable registry.
func registryErr(ctx context.Context, rf *registryFlags, err error) error {
	if err == nil {
		return nil
	}
	if re, ok := errors.AsType[*sr.ResponseError](err); ok {
		// Keep the context wrapped around it ("latest schema of s: ").
		prefix := strings.TrimSuffix(err.Error(), re.Error())
		if re.ErrorCode != 0 {
			return fmt.Errorf("%s%s (error %d)", prefix, strings.TrimSpace(re.Message), re.ErrorCode)
		}
		body := strings.TrimSpace(string(re.Raw))
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		return fmt.Errorf("%sregistry answered HTTP %d: %s", prefix, re.StatusCode, body)
	}
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return errors.New("interrupted")
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from the registry within %v (--timeout)", rf.timeout)
	}
	return fmt.Errorf("registry %s: %w", strings.Join(rf.urls, ","), err)
}

// registryCode is the Confluent error code of err, or 0.
func registryCode(err error) int {
	if re, ok := errors.AsType[*sr.ResponseError](err); ok {
		return re.ErrorCode
	}
	return 0
}
