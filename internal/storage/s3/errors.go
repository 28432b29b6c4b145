package s3

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// apiError is an error answer of the S3 service.
type apiError struct {
	Status    int    `xml:"-"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	RequestID string `xml:"RequestId"`
}

func (e *apiError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// newAPIError reads the error document of a non-2xx response; HEAD
// answers and some proxies send none, so the status alone must do.
func newAPIError(status int, body []byte) *apiError {
	e := &apiError{}
	if xml.Unmarshal(body, e) != nil {
		e = &apiError{}
	}
	e.Status = status
	return e
}

// parseErrorDocument returns the error a 2xx response body carries, if it
// is an S3 <Error> document (CompleteMultipartUpload can fail that way).
func parseErrorDocument(status int, body []byte) *apiError {
	var probe struct {
		XMLName xml.Name
	}
	if len(body) == 0 || xml.Unmarshal(body, &probe) != nil || probe.XMLName.Local != "Error" {
		return nil
	}
	return newAPIError(status, body)
}

// classify is the one place where native errors (S3 error codes, HTTP
// statuses, network failures) are mapped onto the storage sentinels. It
// returns nil for errors that have none: configuration errors such as
// AccessDenied, invalid requests, the caller's own reader or context.
func classify(err error) error {
	var api *apiError
	var transport *transportError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &transport):
		return storage.ErrUnavailable
	case errors.As(err, &api):
		return api.sentinel()
	}
	return nil
}

// sentinel maps an S3 error answer onto a storage sentinel, or nil.
func (e *apiError) sentinel() error {
	switch e.Code {
	case "NoSuchKey":
		return storage.ErrNotFound
	case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "OperationAborted":
		return storage.ErrUnavailable
	case "XMinioStorageFull", "InsufficientStorage", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded":
		return storage.ErrInsufficientStorage
	}
	switch {
	case e.Status == http.StatusNotFound && (e.Code == "" || e.Code == "NotFound"):
		return storage.ErrNotFound // HEAD answers carry no code
	case e.Status == http.StatusInsufficientStorage:
		return storage.ErrInsufficientStorage
	case e.Status >= 500 || e.Status == http.StatusTooManyRequests:
		return storage.ErrUnavailable
	}
	return nil
}

// retryable reports whether a request that failed with err may succeed if
// sent again.
func retryable(err error) bool {
	return errors.Is(classify(err), storage.ErrUnavailable)
}

// mapErr adds to err the storage sentinel its native cause maps onto, if
// any; it returns nil for nil. The Bucket adds the backend, operation and
// key.
func mapErr(err error) error {
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

// ConfigError is a setting that keeps the Store from working. Var names
// the environment variable to fix. It never holds a secret.
type ConfigError struct {
	// Var is the environment variable to fix, for example S3_REGION.
	Var string
	// Reason says what is wrong with it.
	Reason string
	// Err is the underlying failure, if any.
	Err error
}

func (e *ConfigError) Error() string {
	s := "s3: " + e.Var + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying failure.
func (e *ConfigError) Unwrap() error { return e.Err }
