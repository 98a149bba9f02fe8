package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/metrics"
)

// Backend is what the console reads and changes the broker through; the
// broker implements it (internal/broker/console.go), so this package does
// not import the broker.
//
// Request serves one Kafka request in-process, exactly as if it came over
// a connection of the principal that ctx carries (the HTTP request's
// authenticated subject): the same handlers, the same ACL checks and the
// same validation, with Kafka's error codes in the response. The console
// thus shows only what its user may Describe and can do only what the user
// may do over Kafka.
type Backend interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	Info() Info
	// Registry is the schema registry's Confluent REST API, served as the
	// principal of the request's context (ErrNoRegistry when the broker
	// runs none).
	Registry() (http.Handler, error)
	// GroupTimeLag is, per topic and partition of group's committed
	// offsets, the group's time lag in seconds as /metrics computes it
	// (internal/metrics), for the principal of ctx: Describe on the group
	// needed, topics it may not Describe left out.
	GroupTimeLag(ctx context.Context, group string, now time.Time) (map[string]map[int32]float64, error)
	// GroupLag is every group's lag as /metrics reports it, read as the
	// broker (no principal) by the console's lag history sampler; nil
	// while the broker is not ready.
	GroupLag(now time.Time) []metrics.GroupStats
	// RequestTotals is the Kafka requests handled so far by API name
	// (sluice_requests_total), for the overview's rate charts; nil while
	// the broker is not ready.
	RequestTotals() map[string]float64
}

// Info is the broker's static description for the overview page.
type Info struct {
	NodeID    int32
	ClusterID string
	Listeners []Listener
	HTTPAddr  string
}

// Listener is one Kafka listener of the broker.
type Listener struct {
	Name       string
	Protocol   string
	Addr       string // bound address
	Advertised string
}

// ErrNoSubject is returned by a Backend when ctx carries no authenticated
// principal (a handler not mounted behind the HTTP listener's
// authentication).
var ErrNoSubject = errors.New("console: no authenticated principal in the request context")

// ErrNoRegistry is returned by Backend.Registry when the schema registry
// is off.
var ErrNoRegistry = errors.New("the broker runs no schema registry")

// ErrNotReady is returned by a Backend while the broker starts or shuts
// down; the console answers 503.
var ErrNotReady = errors.New("the broker is not ready")
