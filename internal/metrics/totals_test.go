package metrics

import "testing"

func TestRequestTotals(t *testing.T) {
	m := New(Options{APIs: map[int16]string{0: "Produce", 1: "Fetch"}})
	for range 3 {
		m.API(0).Observe(0, 0, 0, 0, 0)
	}
	m.API(1).Observe(0, 0, 0, 0, 0)
	got := map[string]float64{}
	m.RequestTotals(func(api string, n float64) { got[api] = n })
	if len(got) != 2 || got["Produce"] != 3 || got["Fetch"] != 1 {
		t.Fatalf("totals %v, want Produce 3, Fetch 1", got)
	}
	var nilM *Metrics
	nilM.RequestTotals(func(string, float64) { t.Fatal("a nil Metrics has totals") })
}
