package broker

// The operations listener (Config.HTTPListen, `sluice serve
// --http-listen`, default 127.0.0.1:8080):
//
//   - /healthz: 200 while the process serves HTTP (liveness).
//   - /readyz: 200 once the logs are recovered, the group and transaction
//     coordinators loaded and the Kafka listeners accepting; before that
//     (and from shutdown on) 503 with the reason. Both are unauthenticated,
//     as probes are, and say nothing else.
//   - /metrics: Prometheus metrics (internal/metrics, metrics.go).
//   - /debug/pprof/: Go's profiler, only with Config.PProf.
//   - /: the web console (internal/console, mounted by console.go), behind
//     the same authentication as /metrics.
//
// It is bound first thing in New, so probes get answers while the logs
// recover (/metrics is 503 until security is set up). With TLS on any
// Kafka listener it serves HTTPS with the same certificate (handshakes
// fail until the certificate is loaded); /metrics and /debug/pprof/ take
// the same authentication as the schema registry (httpauth.go: HTTP basic
// against the SCRAM users, or a client certificate; ANONYMOUS only without
// a SASL listener). A scrape sees the series of the topics and groups its
// principal may Describe (and quota entities with DescribeConfigs on the
// cluster); pprof needs Describe on the cluster.
//
// Other packages (the web console) mount on the same mux with
// Broker.HandleHTTP before Serve: their handlers get the authenticated
// subject from HTTPSubject.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/console"
	"github.com/sluice-io/sluice/internal/metrics"
)

// DefaultHTTPListen is the operations listener's address `sluice serve`
// uses unless told otherwise.
const DefaultHTTPListen = "127.0.0.1:8080"

// httpListenerName labels the operations listener's authentication
// failures in the metrics.
const httpListenerName = "http"

// Readiness reasons (/readyz).
const (
	notReadyRecovering   = "recovering partition logs"
	notReadyCoordinators = "loading group and transaction coordinators"
	notReadySecurity     = "setting up security"
	notReadyListeners    = "Kafka listeners not accepting yet"
	notReadyShutdown     = "shutting down"
)

type opsServer struct {
	b      *Broker
	ln     net.Listener
	srv    *http.Server
	mux    *http.ServeMux
	served chan struct{} // closed when srv.Serve returns
	tls    bool

	auth     atomic.Pointer[httpAuth] // set once security is up
	notReady atomic.Pointer[string]   // why /readyz is 503; nil when ready
	authFail *metrics.Listener
	console  *console.Console // the web console (console.go), nil when off
}

// openOps creates the metrics and binds and serves the operations
// listener, unless HTTPListen is empty.
func (b *Broker) openOps() error {
	if b.cfg.HTTPListen == "" {
		return nil
	}
	apis := map[int16]string{}
	for key := range handlers {
		apis[key] = kmsg.NameForKey(key)
	}
	b.metrics = metrics.New(metrics.Options{APIs: apis, PartitionSeriesMax: b.cfg.MetricsPartitionSeriesMax,
		Source: &metricsSource{b: b}, Now: b.cfg.Now})
	o := &opsServer{b: b, mux: http.NewServeMux(), served: make(chan struct{}), tls: b.httpUsesTLS()}
	o.authFail = b.metrics.Listener(httpListenerName)
	o.setNotReady(notReadyRecovering)
	ln, err := net.Listen("tcp", b.cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("%w: HTTP listener %s: %w", ErrInvalidConfig, b.cfg.HTTPListen, err)
	}
	if o.tls {
		ln = tls.NewListener(ln, &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				if o.auth.Load() == nil {
					return nil, errors.New("the broker is starting: no certificate yet")
				}
				return b.tls.current(ProtocolSSL), nil
			},
		})
	}
	o.ln = ln
	logger := b.logger.With("component", "http")
	o.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	o.mux.HandleFunc("GET /readyz", o.readyz)
	o.mux.Handle("GET /metrics", o.authenticated(func(w http.ResponseWriter, r *http.Request, subj auth.Subject) {
		b.metrics.Handler(o.scrapeFilter(subj)).ServeHTTP(w, r)
	}))
	if b.cfg.PProf {
		o.mux.Handle("/debug/pprof/", o.authenticated(func(w http.ResponseWriter, r *http.Request, subj auth.Subject) {
			if !b.cfg.Authorizer.Authorize(subj, auth.OpDescribe, auth.Cluster()) {
				http.Error(w, "pprof needs Describe on the cluster", http.StatusForbidden)
				return
			}
			switch r.URL.Path {
			case "/debug/pprof/cmdline":
				pprof.Cmdline(w, r)
			case "/debug/pprof/profile":
				pprof.Profile(w, r)
			case "/debug/pprof/symbol":
				pprof.Symbol(w, r)
			case "/debug/pprof/trace":
				pprof.Trace(w, r)
			default:
				pprof.Index(w, r)
			}
		}))
	}
	o.srv = &http.Server{
		Handler:           o.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	b.ops = o
	b.mountConsole() // console.go: the web console at /
	go func() {
		defer close(o.served)
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP listener stopped", "err", err)
		}
	}()
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	logger.Info("HTTP listener up", "url", fmt.Sprintf("%s://%s", scheme, ln.Addr()), "pprof", b.cfg.PProf)
	return nil
}

// HTTPAddr is the operations listener's bound address, or nil when off.
func (b *Broker) HTTPAddr() net.Addr {
	if b.ops == nil {
		return nil
	}
	return b.ops.ln.Addr()
}

// HandleHTTP mounts h on the operations listener's mux under pattern
// (http.ServeMux syntax), behind its authentication: h runs only for an
// authenticated request, and HTTPSubject(r.Context()) is its principal.
// It is for packages served beside /metrics (the web console); call it
// before Serve. It reports false when the listener is off.
func (b *Broker) HandleHTTP(pattern string, h http.Handler) bool {
	if b.ops == nil {
		return false
	}
	b.ops.mux.Handle(pattern, b.ops.authenticated(func(w http.ResponseWriter, r *http.Request, subj auth.Subject) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subjectKey{}, subj)))
	}))
	return true
}

type subjectKey struct{}

// HTTPSubject is the authenticated subject of a request to a handler
// mounted with HandleHTTP.
func HTTPSubject(ctx context.Context) (auth.Subject, bool) {
	s, ok := ctx.Value(subjectKey{}).(auth.Subject)
	return s, ok
}

func (o *opsServer) setNotReady(reason string) {
	if o == nil {
		return
	}
	if reason == "" {
		o.notReady.Store(nil)
		return
	}
	o.notReady.Store(&reason)
}

// securityReady lets authenticated requests (and TLS handshakes) in.
func (o *opsServer) securityReady() error {
	if o == nil {
		return nil
	}
	a, err := newHTTPAuth(o.b)
	if err != nil {
		return err
	}
	o.auth.Store(a)
	return nil
}

func (o *opsServer) readyz(w http.ResponseWriter, _ *http.Request) {
	if r := o.notReady.Load(); r != nil {
		http.Error(w, "not ready: "+*r, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// authenticated wraps a handler with the listener's authentication.
func (o *opsServer) authenticated(h func(http.ResponseWriter, *http.Request, auth.Subject)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := o.auth.Load()
		if a == nil {
			reason := notReadyRecovering
			if p := o.notReady.Load(); p != nil {
				reason = *p
			}
			http.Error(w, "the broker is starting: "+reason, http.StatusServiceUnavailable)
			return
		}
		p, err := a.principal(r)
		if err != nil {
			o.authFail.AuthFailed()
			o.b.logger.Info("HTTP authentication failed", "listener", httpListenerName, "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		subj := auth.Subject{Principal: p}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			subj.Host = ap.Addr()
		}
		h(w, r, subj)
	})
}

// scrapeFilter is what subj may see of the metrics: series of topics it
// may Describe, of groups it may Describe, and of quota entities when it
// may DescribeConfigs the cluster (as DescribeClientQuotas requires).
func (o *opsServer) scrapeFilter(subj auth.Subject) metrics.Allow {
	az := o.b.cfg.Authorizer
	if _, all := az.(auth.AllowAll); all {
		return nil
	}
	return func(name, value string) bool {
		switch name {
		case "topic":
			return az.Authorize(subj, auth.OpDescribe, auth.Topic(value))
		case "group":
			return az.Authorize(subj, auth.OpDescribe, auth.Group(value))
		case "user", "client_id":
			return az.Authorize(subj, auth.OpDescribeConfigs, auth.Cluster())
		}
		return true
	}
}

// closeOps stops the operations listener (bounded by ShutdownTimeout).
func (b *Broker) closeOps() {
	o := b.ops
	if o == nil {
		return
	}
	o.setNotReady(notReadyShutdown)
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil {
		o.srv.Close()
	}
	<-o.served
	if o.console != nil {
		o.console.Close() // after the server: no request uses it any more
	}
}
