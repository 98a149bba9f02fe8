package broker

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkRegistryLookupByID is GET /schemas/ids/{id} over HTTP (keep-alive,
// loopback) against a warm registry; it reports p50 and p99 latencies.
//
//	go test -run '^$' -bench BenchmarkRegistry -benchtime 20000x ./internal/broker/
func BenchmarkRegistryLookupByID(b *testing.B) {
	tb := startBrokerWith(b, Config{RegistryListen: "127.0.0.1:0"})
	url := "http://" + tb.RegistryAddr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	const n = 100
	for i := range n {
		body := fmt.Sprintf(`{"schema":"{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":\"f\",\"type\":\"int\"}]}"}`, i)
		resp, err := hc.Post(url+fmt.Sprintf("/subjects/s%d/versions", i), "application/vnd.schemaregistry.v1+json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("register: %v %v", err, resp)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := hc.Get(fmt.Sprintf("%s/schemas/ids/%d", url, 1+i%n))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRegistryRegister is POST /subjects/{s}/versions of new schemas,
// one after another (each acknowledged once its record is in _schemas);
// it reports registrations per second.
func BenchmarkRegistryRegister(b *testing.B) {
	tb := startBrokerWith(b, Config{RegistryListen: "127.0.0.1:0"})
	url := "http://" + tb.RegistryAddr().String()
	hc := &http.Client{}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		body := fmt.Sprintf(`{"schema":"{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":\"f\",\"type\":\"int\"}]}"}`, i)
		resp, err := hc.Post(url+fmt.Sprintf("/subjects/s%d/versions", i), "application/vnd.schemaregistry.v1+json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registrations/s")
}
