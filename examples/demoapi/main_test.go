package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()

	tests := []struct {
		name     string
		method   string
		path     string
		subject  string
		wantCode int
		want     document
	}{
		{"with subject", "GET", "/v1/tenants/acme/documents/q3", "user:alice", 200, document{Tenant: "acme", ID: "q3", User: "user:alice"}},
		{"without subject", "GET", "/v1/tenants/acme/documents/q3", "", 200, document{Tenant: "acme", ID: "q3"}},
		{"unknown path", "GET", "/v1/tenants/acme/folders/q3", "", 404, document{}},
		{"wrong method", "POST", "/v1/tenants/acme/documents/q3", "", 405, document{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if tt.subject != "" {
				req.Header.Set(SubjectHeader, tt.subject)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantCode != 200 {
				return
			}
			var got document
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
