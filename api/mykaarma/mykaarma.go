// Package mykaarma holds myKaarma's wire types for the historical
// communications endpoint and its target schema. The sink, the sandbox fake
// and the mapping compiler all use these; nothing else defines them.
//
// PUT {base}/department/{departmentUUID}/customer/{customerUUID}/communication/historical
package mykaarma

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// DefaultBase is the production base URL.
const DefaultBase = "https://api.mykaarma.com/communications"

// Path returns the endpoint path below the base for a route.
func Path(department, customer string) string {
	return fmt.Sprintf("/department/%s/customer/%s/communication/historical",
		url.PathEscape(department), url.PathEscape(customer))
}

// Request is the PUT body. Items are pre-encoded by the mapping.
type Request struct {
	SaveMessageRequestList []json.RawMessage `json:"saveMessageRequestList"`
	CallBackPathURL        string            `json:"callBackPathUrl,omitempty"`
}

// Response is the 200 body. A 200 can carry per-item failures.
type Response struct {
	SaveMessageResponse []ItemResponse `json:"saveMessageResponse,omitempty"`
	// The vendor's spelling, matched exactly.
	SuccesfullySubmittedSourceUuids []string  `json:"succesfullySubmittedSourceUuids,omitempty"`
	FailedSourceUuids               []string  `json:"failedSourceUuids,omitempty"`
	Errors                          []Error   `json:"errors"`
	Warnings                        []Warning `json:"warnings"`
	// Not in the seed's 200, but in the rest of their API's answers:
	// support asks for it, so it is kept when present.
	APIRequestID string `json:"apiRequestId,omitempty"`
}

// ItemResponse is one item's outcome.
type ItemResponse struct {
	SourceUUID  string    `json:"sourceUuid"`
	MessageUUID string    `json:"messageUuid"`
	Errors      []Error   `json:"errors"`
	Warnings    []Warning `json:"warnings"`
}

// Error is a per-item or per-request error inside a 200.
type Error struct {
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
	ErrorUID         string `json:"errorUID,omitempty"`
}

// Warning is a per-item or per-request warning.
type Warning struct {
	WarningCode        string `json:"warningCode"`
	WarningDescription string `json:"warningDescription"`
}

// APIError is the body myKaarma's API returns with a non-200 status.
type APIError struct {
	Errors       []APIErrorEntry `json:"errors"`
	Warnings     []Warning       `json:"warnings,omitempty"`
	APIRequestID string          `json:"apiRequestId,omitempty"`
}

// APIErrorEntry is one entry of an APIError. Their API documents
// errorTitle/errorMessage for it, and errorDescription for the errors of the
// historical endpoint's 200: both are read.
type APIErrorEntry struct {
	ErrorCode        string `json:"errorCode"`
	ErrorTitle       string `json:"errorTitle,omitempty"`
	ErrorMessage     string `json:"errorMessage,omitempty"`
	ErrorDescription string `json:"errorDescription,omitempty"`
}

// Text is the entry's words, whichever fields carry them.
func (e APIErrorEntry) Text() string {
	var parts []string
	for _, s := range []string{e.ErrorTitle, e.ErrorMessage, e.ErrorDescription} {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// DecodeError reads an error body in myKaarma's format: the first error's
// code, every error's words, and the apiRequestId. All "" when the body is
// not in that format (a proxy's page, a router's 404).
func DecodeError(body []byte) (code, message, requestID string) {
	var e APIError
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return "", "", ""
	}
	parts := make([]string, 0, len(e.Errors))
	for _, x := range e.Errors {
		t := x.Text()
		if x.ErrorCode != "" && len(e.Errors) > 1 {
			t = x.ErrorCode + ": " + t
		}
		parts = append(parts, t)
	}
	return e.Errors[0].ErrorCode, strings.Join(parts, "; "), e.APIRequestID
}

// SaveMessageRequest is one item of the request, fully typed, as the sandbox
// decodes it to validate what the sink sent.
type SaveMessageRequest struct {
	SourceUUID          string               `json:"sourceUuid"`
	CallBackPathURL     string               `json:"callBackPathUrl,omitempty"`
	SentOn              string               `json:"sentOn,omitempty"`
	ReceivedOn          string               `json:"receivedOn,omitempty"`
	UserUUID            string               `json:"userUuid,omitempty"`
	MessageUUID         string               `json:"messageUuid,omitempty"`
	CommunicationUID    string               `json:"communicationUid,omitempty"`
	MessageAttributes   *MessageAttributes   `json:"messageAttributes,omitempty"`
	VoiceCallAttributes *VoiceCallAttributes `json:"voiceCallAttributes,omitempty"`
	// Present only so the sandbox can reject it: a migration never notifies.
	NotificationAttributes json.RawMessage `json:"notificationAttributes,omitempty"`
}

// MessageAttributes is the message itself.
type MessageAttributes struct {
	Body                       string            `json:"body,omitempty"`
	Type                       string            `json:"type,omitempty"`
	Protocol                   string            `json:"protocol,omitempty"`
	Purpose                    string            `json:"purpose,omitempty"`
	IsManual                   *bool             `json:"isManual,omitempty"`
	Subject                    string            `json:"subject,omitempty"`
	MetaData                   map[string]any    `json:"metaData,omitempty"`
	Tags                       []string          `json:"tags,omitempty"`
	DraftAttributes            *DraftAttributes  `json:"draftAttributes,omitempty"`
	Attachments                []Attachment      `json:"attachments,omitempty"`
	DefaultReplyAction         string            `json:"defaultReplyAction,omitempty"`
	UpdateThreadTimestamp      *bool             `json:"updateThreadTimestamp,omitempty"`
	UpdateTotalMessageCount    *bool             `json:"updateTotalMessageCount,omitempty"`
	ShowInCustomerConversation *bool             `json:"showInCustomerConversation,omitempty"`
	MessageTags                []json.RawMessage `json:"messageTags,omitempty"`
}

// DraftAttributes describes a draft.
type DraftAttributes struct {
	DraftStatus        string `json:"draftStatus,omitempty"`
	ScheduledOn        string `json:"scheduledOn,omitempty"`
	DraftFailureReason string `json:"draftFailureReason,omitempty"`
}

// Attachment is a file carried by URL.
type Attachment struct {
	FileURL             string `json:"fileURL"`
	AttachmentExtension string `json:"attachmentExtension,omitempty"`
	MimeType            string `json:"mimeType,omitempty"`
	OriginalFileName    string `json:"originalFileName,omitempty"`
	DocSize             string `json:"docSize,omitempty"`
	ThumbnailURL        string `json:"thumbnailURL,omitempty"`
	MediaPreviewURL     string `json:"mediaPreviewURL,omitempty"`
}

// VoiceCallAttributes describes a call.
type VoiceCallAttributes struct {
	CallingParty   string `json:"callingParty,omitempty"`
	Party2         string `json:"party2,omitempty"`
	Party1Prompt   string `json:"party1Prompt,omitempty"`
	Party2Prompt   string `json:"party2prompt,omitempty"`
	CallStatus     *int   `json:"callStatus,omitempty"`
	CallIdentifier string `json:"callIdentifier,omitempty"`
	CallDateTime   string `json:"callDateTime,omitempty"`
	CallBroker     string `json:"callBroker,omitempty"`
	RecordingURL   string `json:"recordingUrl,omitempty"`
	RecordCall     *bool  `json:"recordCall,omitempty"`
	TranscribeCall *bool  `json:"transcribeCall,omitempty"`
	TranscribeText string `json:"transcribeText,omitempty"`
}

// Enums the vendor documents.
var (
	Protocols = []string{"TEXT", "EMAIL", "VOICE_CALL", "NONE"}
	Types     = []string{"DRAFT", "OUTGOING", "INCOMING", "NOTE"}
)

// TooLargeCodes are error codes taken to mean "the batch is too big" (split
// it), besides a 413. The vendor documents none (VENDORS.md [I]); a job adds
// its own with sink.too_large_codes.
var TooLargeCodes = []string{"REQUEST_TOO_LARGE", "PAYLOAD_TOO_LARGE", "BATCH_TOO_LARGE", "TOO_MANY_MESSAGES"}
