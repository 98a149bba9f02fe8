package registry

import (
	"fmt"
	"strings"
)

// Confluent's error codes (io.confluent.kafka.schemaregistry.rest.exceptions).
const (
	codeSubjectNotFound        = 40401
	codeVersionNotFound        = 40402
	codeSchemaNotFound         = 40403
	codeSubjectSoftDeleted     = 40404
	codeSubjectNotSoftDeleted  = 40405
	codeVersionSoftDeleted     = 40406
	codeVersionNotSoftDeleted  = 40407
	codeSubjectConfigNotFound  = 40408
	codeSubjectModeNotFound    = 40409
	codeIncompatible           = 409
	codeInvalidSchema          = 42201
	codeInvalidVersion         = 42202
	codeInvalidCompatibility   = 42203
	codeInvalidMode            = 42204
	codeOperationNotPermitted  = 42205
	codeReferenceExists        = 42206
	codeIDConflict             = 42207
	codeInvalidSubject         = 42208
	codeStoreError             = 50001
	codeOperationTimeout       = 50002
	codeUnauthorized           = 40101
	codeForbidden              = 40301
	codeBadRequest             = 400
	codeNotFound               = 404
	codeMethodNotAllowed       = 405
	codeNotAcceptable          = 406
	codeUnsupportedContentType = 415
	codeTooLarge               = 413
)

// apiError is an error answered as {"error_code":N,"message":...}.
type apiError struct {
	status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// newErr derives the HTTP status from Confluent's code: its first three
// digits (40401 is 404, 42201 is 422, 50001 is 500).
func newErr(code int, msg string) *apiError {
	status := code
	for status >= 1000 {
		status /= 10
	}
	return &apiError{status: status, Code: code, Message: msg}
}

// validSubject refuses empty subjects and control characters.
func validSubject(s string) error {
	if strings.TrimSpace(s) == "" || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return newErr(codeInvalidSubject, fmt.Sprintf("Invalid subject %q", s))
	}
	return nil
}
