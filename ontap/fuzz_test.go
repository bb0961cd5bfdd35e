package ontap

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/snapmirror-csi/snapmirror-csi/ontap/rest/models"
)

// FuzzDuration: ONTAP's durations parse without panicking, and whole seconds format back to
// the same value.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"PT8H35M42S", "P1DT2H3M4S", "PT0S", "PT1.5S", "P", "5m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil || d < 0 || d > 100*365*24*time.Hour || d%time.Second != 0 {
			return
		}
		if back, err := parseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("%q = %v formats as %q, which reads back as %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}

// FuzzRelationship: whatever ONTAP sends in a relationship record, decoding it never panics.
func FuzzRelationship(f *testing.F) {
	f.Add([]byte(`{"uuid":"u","source":{"path":"a:b","cluster":{"name":"c"}},"destination":{"path":"d:e"},"state":"snapmirrored","healthy":true,"lag_time":"PT1M","transfer":{"state":"success","end_time":"2026-01-01T00:00:00Z","total_duration":"PT2S"}}`))
	f.Add([]byte(`{"lag_time":"bogus"}`))
	f.Add([]byte(`{"unhealthy_reason":[null,{"message":"m"}],"transfer":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m models.SnapmirrorRelationship
		if json.Unmarshal(data, &m) != nil {
			return
		}
		relationshipFromModel(&m)
	})
}

// FuzzErrors: any error body ONTAP returns decodes into an APIError that never panics.
func FuzzErrors(f *testing.F) {
	f.Add([]byte(`{"error":{"message":"entry doesn't exist","code":"4","target":"uuid"}}`), 404)
	f.Add([]byte(`{"error":null}`), 500)
	f.Fuzz(func(t *testing.T, data []byte, status int) {
		var body models.ErrorResponse
		if json.Unmarshal(data, &body) != nil {
			return
		}
		e := apiError(fakeResponse{status: status, body: &body})
		if e.Error() == "" {
			t.Error("empty error message")
		}
		_ = IsTransferInProgress(e) || IsAlreadyExists(e) || IsNoCommonSnapshot(e)
	})
}

type fakeResponse struct {
	status int
	body   *models.ErrorResponse
}

func (r fakeResponse) Error() string                     { return "ontap error" }
func (r fakeResponse) Code() int                         { return r.status }
func (r fakeResponse) GetPayload() *models.ErrorResponse { return r.body }

// FuzzSplitPath: a volume handle <svm>:<volume> the parser accepts has two non-empty parts
// that join back to the handle.
func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{"datavserver:trident_pvc_3bedd23c", ":v", "svm:", "a:b:c", "svm", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		svm, vol, ok := SplitPath(s)
		if ok && (svm == "" || vol == "" || svm+":"+vol != s || strings.Contains(vol, ":")) {
			t.Errorf("SplitPath(%q) = %q, %q", s, svm, vol)
		}
	})
}
