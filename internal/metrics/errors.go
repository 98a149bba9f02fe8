package metrics

import (
	"reflect"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrorCodes calls fn with every non-zero error code of a response, as
// Kafka's AbstractResponse.errorCounts counts them: the top-level code and
// those of each topic, partition or resource. Produce and Fetch, the hot
// APIs, are walked directly; other responses by reflection over their
// ErrorCode fields, the walk planned once per type.
func ErrorCodes(resp kmsg.Response, fn func(int16)) {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					fn(c)
				}
			}
		}
		return
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			fn(r.ErrorCode)
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					fn(c)
				}
			}
		}
		return
	}
	v := reflect.ValueOf(resp)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	planFor(v.Elem().Type()).walk(v.Elem(), fn)
}

// plan is how to find the ErrorCode fields of a struct type.
type plan struct {
	code    int         // index of an int16 ErrorCode field, or -1
	slices  []fieldPlan // fields that are slices of structs holding codes
	structs []fieldPlan // nested struct fields holding codes
}

type fieldPlan struct {
	index int
	p     *plan
}

var plans sync.Map // reflect.Type -> *plan

func planFor(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := buildPlan(t, map[reflect.Type]*plan{})
	plans.Store(t, p)
	return p
}

func buildPlan(t reflect.Type, building map[reflect.Type]*plan) *plan {
	if p := building[t]; p != nil {
		return p
	}
	p := &plan{code: -1}
	building[t] = p
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch {
		case f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16:
			p.code = i
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			if sub := buildPlan(f.Type.Elem(), building); !sub.empty() {
				p.slices = append(p.slices, fieldPlan{i, sub})
			}
		case f.Type.Kind() == reflect.Struct:
			if sub := buildPlan(f.Type, building); !sub.empty() {
				p.structs = append(p.structs, fieldPlan{i, sub})
			}
		}
	}
	return p
}

func (p *plan) empty() bool { return p.code < 0 && len(p.slices) == 0 && len(p.structs) == 0 }

func (p *plan) walk(v reflect.Value, fn func(int16)) {
	if p.code >= 0 {
		if c := int16(v.Field(p.code).Int()); c != 0 {
			fn(c)
		}
	}
	for _, f := range p.structs {
		f.p.walk(v.Field(f.index), fn)
	}
	for _, f := range p.slices {
		s := v.Field(f.index)
		for i := 0; i < s.Len(); i++ {
			f.p.walk(s.Index(i), fn)
		}
	}
}
