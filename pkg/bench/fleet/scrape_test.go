package fleet

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestScrapeSum: the samples of one metric are summed over its labels;
// other metrics, those whose names it prefixes, and comments are not.
func TestScrapeSum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `# HELP p4ctl_device_changes_total entries written
# TYPE p4ctl_device_changes_total counter
p4ctl_device_changes_total{device="hv001",op="insert"} 40004
p4ctl_device_changes_total{device="hv001",op="delete"} 3
p4ctl_device_changes_total{device="hv002",op="insert"} 1.5e+01
p4ctl_device_changes_totally 1000
p4ctl_device_sync_failures_total{device="hv001"} 7
`)
	}))
	defer srv.Close()
	got, err := scrapeSum(context.Background(), srv.URL+"/metrics", "p4ctl_device_changes_total")
	if err != nil || got != 40022 {
		t.Fatalf("scrapeSum = %v, %v; want 40022", got, err)
	}
	if _, err := scrapeSum(context.Background(), srv.URL+"/nope", "x"); err == nil {
		t.Fatal("scrapeSum of a 404: no error")
	}
	srv.Close()
	if _, err := scrapeSum(context.Background(), srv.URL, "x"); err == nil {
		t.Fatal("scrapeSum of a closed server: no error")
	}
}
