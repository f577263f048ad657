package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// csvGet reads a report as CSV through the local stack.
func (s *localStack) csvGet(path, token string) (rows [][]string, disposition string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.run.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/csv")
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		s.t.Fatalf("GET %s as CSV → %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	rows, err = csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		s.t.Fatalf("GET %s: not CSV: %v", path, err)
	}
	return rows, resp.Header.Get("Content-Disposition")
}

// The accountant's month through the local stack: usage on 3 tenants over
// 2 months gives each month's per-tenant totals and CSV, and the current
// month's statement closes at the balance with one CSV row per entry.
func TestMonthReportsThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "msp")
	now := time.Now().UTC()
	prev := time.Date(now.Year(), now.Month()-1, 10, 0, 0, 0, 0, time.UTC)
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	type rec struct {
		tenant string
		day    time.Time
		users  int
	}
	recs := []rec{
		{"contoso", prev, 40}, {"contoso", prev.AddDate(0, 0, 1), 42}, {"fabrikam", prev, 7}, {"adatum", prev.AddDate(0, 0, 1), 12},
		{"contoso", cur, 45}, {"fabrikam", cur, 9},
	}
	var body []string
	for _, r := range recs {
		body = append(body, fmt.Sprintf(`{"partnerId":"msp","tenantId":%q,"date":%q,"users":%d}`, r.tenant, r.day.Format("2006-01-02"), r.users))
	}
	s.call("POST", "/v1/internal/usage", "", `{"records":[`+strings.Join(body, ",")+`]}`, 200, nil)

	for _, m := range []struct {
		month   time.Time
		tenants map[string]int64
		order   []string
	}{
		{prev, map[string]int64{"contoso": 82, "adatum": 12, "fabrikam": 7}, []string{"contoso", "adatum", "fabrikam"}},
		{cur, map[string]int64{"contoso": 45, "fabrikam": 9}, []string{"contoso", "fabrikam"}},
	} {
		month := m.month.Format("2006-01")
		var rep struct {
			TotalUnits int64
			Tenants    []struct {
				TenantID string
				Units    int64
			}
		}
		s.call("GET", "/v1/usage?month="+url.QueryEscape(month), s.reader, "", 200, &rep)
		var total int64
		for i, tn := range rep.Tenants {
			if i >= len(m.order) || tn.TenantID != m.order[i] || tn.Units != m.tenants[tn.TenantID] {
				t.Errorf("%s: tenants %+v, want %v in the order %v", month, rep.Tenants, m.tenants, m.order)
				break
			}
			total += tn.Units
		}
		if len(rep.Tenants) != len(m.order) || rep.TotalUnits != total {
			t.Errorf("%s: %+v", month, rep)
		}
		rows, disposition := s.csvGet("/v1/usage?month="+month, s.reader)
		if disposition != `attachment; filename="usage-msp-`+month+`.csv"` {
			t.Errorf("%s: Content-Disposition %q", month, disposition)
		}
		var csvUnits int64
		for _, row := range rows[1:] {
			var u int64
			fmt.Sscan(row[3], &u)
			csvUnits += u
		}
		if strings.Join(rows[0], ",") != "date,tenant_id,users,units,billed" || csvUnits != total {
			t.Errorf("%s: CSV %v sums to %d, want %d", month, rows, csvUnits, total)
		}
	}

	// The current month's statement: closes at the balance, one CSV row
	// per entry.
	var bal balanceJSON
	s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
	month := cur.Format("2006-01")
	var st struct {
		OpeningBalance, ClosingBalance int64
		Totals                         map[string]int64
		Entries                        int
	}
	s.call("GET", "/v1/statements/"+month, s.reader, "", 200, &st)
	if st.ClosingBalance != bal.Units {
		t.Errorf("statement closes at %d, balance %d", st.ClosingBalance, bal.Units)
	}
	rows, _ := s.csvGet("/v1/statements/"+month, s.reader)
	if len(rows) != 1+st.Entries || st.Entries == 0 {
		t.Errorf("statement CSV has %d rows for %d entries", len(rows)-1, st.Entries)
	}
}
