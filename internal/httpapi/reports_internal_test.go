package httpapi

import (
	"encoding/csv"
	"strings"
	"testing"
)

// RFC 4180: a field with a comma, a quote or a line break is quoted, quotes
// doubled, lines end with CRLF; a reader gets the fields back unchanged.
func TestCSVEscaping(t *testing.T) {
	rows := [][]string{{"date", "tenant_id"}, {"2026-11-02", "acme, inc"}, {"2026-11-02", `say "hi"`}, {"2026-11-02", "line\nbreak"}, {"2026-11-02", "plain"}}
	resp, err := csvResponse("usage-p-2026-11.csv", rows)
	if err != nil {
		t.Fatal(err)
	}
	want := "date,tenant_id\r\n2026-11-02,\"acme, inc\"\r\n2026-11-02,\"say \"\"hi\"\"\"\r\n2026-11-02,\"line\r\nbreak\"\r\n2026-11-02,plain\r\n"
	if resp.Body != want {
		t.Errorf("CSV\n%q\nwant\n%q", resp.Body, want)
	}
	back, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
	if err != nil || len(back) != len(rows) || back[3][1] != "line\nbreak" || back[2][1] != `say "hi"` {
		t.Errorf("read back %q %v", back, err)
	}
	if resp.Headers["Content-Type"] != "text/csv; charset=utf-8" || resp.Headers["Cache-Control"] != "no-store" {
		t.Errorf("headers %v", resp.Headers)
	}
}

// A partner id may hold characters a header's quoted filename cannot.
func TestAttachmentNameIsSafe(t *testing.T) {
	resp, _ := csvResponse(`usage-a"b/c\d e-2026-11.csv`, nil)
	if got := resp.Headers["Content-Disposition"]; got != `attachment; filename="usage-a_b_c_d_e-2026-11.csv"` {
		t.Errorf("Content-Disposition %q", got)
	}
}

func TestAcceptNegotiation(t *testing.T) {
	for accept, csv := range map[string]bool{
		"":                               false,
		"text/csv":                       true,
		"text/csv; charset=utf-8":        true,
		"application/json":               false,
		"application/json, text/csv":     false,
		"text/csv, application/json":     true,
		"*/*":                            false,
		"text/html, text/csv;q=0.9, */*": true,
		"garbage;;;":                     false,
	} {
		r := &Request{headers: map[string]string{"accept": accept}}
		if got := wantsCSV(r); got != csv {
			t.Errorf("Accept %q: CSV = %v, want %v", accept, got, csv)
		}
	}
}
