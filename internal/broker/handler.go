package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

// handler serves one API key over a version range. The range is exactly
// what ApiVersions advertises, so nothing is advertised that is not served.
type handler struct {
	min, max int16
	fn       func(b *Broker, r *request, kreq kmsg.Request) kmsg.Response
}

var handlers = map[int16]handler{}

// register installs a typed handler for an API key; each NN_*.go file
// calls it from init with the versions it implements.
func register[Req kmsg.Request](key, minV, maxV int16, fn func(*Broker, *request, Req) kmsg.Response) {
	if _, dup := handlers[key]; dup {
		panic("broker: API key registered twice: " + kmsg.NameForKey(key))
	}
	if maxV > kmsg.RequestForKey(key).MaxVersion() {
		panic("broker: kmsg cannot encode the advertised max version of " + kmsg.NameForKey(key))
	}
	handlers[key] = handler{min: minV, max: maxV, fn: func(b *Broker, r *request, k kmsg.Request) kmsg.Response {
		return fn(b, r, k.(Req))
	}}
}

func sortedKeys() []int16 {
	keys := make([]int16, 0, len(handlers))
	for k := range handlers {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// allowed asks the authorizer whether this connection may do op on res.
func (r *request) allowed(op auth.Operation, res auth.Resource) bool {
	return r.c.b.cfg.Authorizer.Authorize(r.c.subj, op, res)
}

// code turns a kerr error (or nil) into its wire code.
func code(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// errMessage is the optional error message of a response field.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
