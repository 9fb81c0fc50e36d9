package mykaarma

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// An error body's words reach the failure whichever field carries them: the
// API documents errorTitle/errorMessage, the historical endpoint's seed uses
// errorDescription (../shared/seeds), and a body that is not in the format
// gives nothing to read.
func TestDecodeError(t *testing.T) {
	tests := []struct {
		Name, Body               string
		Code, Message, RequestID string
	}{
		{"Description", `{"errors":[{"errorCode":"SERVICE_UNAVAILABLE","errorDescription":"try again later"}],"apiRequestId":"r-1"}`,
			"SERVICE_UNAVAILABLE", "try again later", "r-1"},
		{"TitleAndMessage", `{"errors":[{"errorCode":"BAD_DEPARTMENT","errorTitle":"Bad department","errorMessage":"no such department"}]}`,
			"BAD_DEPARTMENT", "Bad department: no such department", ""},
		{"AllThreeOnceEach", `{"errors":[{"errorCode":"X","errorTitle":"t","errorMessage":"t","errorDescription":"d"}]}`,
			"X", "t: d", ""},
		{"Several", `{"errors":[{"errorCode":"A","errorDescription":"a"},{"errorCode":"B","errorMessage":"b"}]}`,
			"A", "A: a; B: b", ""},
		{"NotTheFormat", `<html>502 Bad Gateway</html>`, "", "", ""},
		{"NoErrors", `{"errors":[]}`, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			code, msg, id := DecodeError([]byte(tt.Body))
			assert.Equal(t, tt.Code, code)
			assert.Equal(t, tt.Message, msg)
			assert.Equal(t, tt.RequestID, id)
		})
	}
}
