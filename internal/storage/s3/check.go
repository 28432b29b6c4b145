package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// validate checks cfg without contacting the server.
func validate(cfg Config) error {
	if err := validateEndpoint(cfg.Endpoint); err != nil {
		return err
	}
	required := []struct{ name, value string }{
		{"S3_REGION", cfg.Region}, {"S3_BUCKET", cfg.Bucket},
		{"S3_ACCESS_KEY_ID", cfg.AccessKeyID}, {"S3_SECRET_ACCESS_KEY", cfg.SecretAccessKey},
	}
	for _, r := range required {
		if r.value == "" {
			return &ConfigError{Var: r.name, Reason: "required"}
		}
	}
	if strings.ContainsAny(cfg.Bucket, "/?#% \t\r\n") {
		return &ConfigError{Var: "S3_BUCKET", Reason: "not a valid bucket name"}
	}
	switch {
	case cfg.Timeout < 0:
		return &ConfigError{Var: "S3_TIMEOUT", Reason: "must not be negative"}
	case cfg.RetryDelay < 0:
		return &ConfigError{Var: "S3_RETRY_DELAY", Reason: "must not be negative"}
	}
	if cfg.PartSize != 0 && (cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize) {
		return &ConfigError{Var: "S3_PART_SIZE", Reason: "must be between 5MiB and 5GiB, the S3 part size limits"}
	}
	for _, seg := range strings.Split(strings.Trim(cfg.Prefix, "/"), "/") {
		if cfg.Prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return &ConfigError{Var: "S3_PREFIX", Reason: `must be a folder path without empty, "." or ".." segments`}
		}
	}
	return nil
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "required"}
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "not a URL"} // the parse error may echo a password
	case u.Scheme != "http" && u.Scheme != "https":
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "must start with http:// or https://"}
	case u.Host == "":
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "has no host"}
	case u.User != nil:
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "must not hold credentials; use S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"}
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "must be a base URL without path or query (the bucket goes in S3_BUCKET)"}
	}
	return nil
}

// check lists at most one key under the prefix: the cheapest request that
// proves the endpoint, credentials, region and bucket right.
func (s *Store) check(ctx context.Context) error {
	q := "list-type=2&max-keys=1&prefix=" + queryEscape(s.prefix)
	_, err := s.exec(ctx, call{method: http.MethodGet, query: q})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("s3: checking bucket %s: %w", s.bucket, mapErr(err))
	}
	return s.checkError(err)
}

// checkError names the setting a failed startup check points at.
func (s *Store) checkError(err error) error {
	var api *apiError
	if !errors.As(err, &api) {
		if sentinel := classify(err); sentinel != nil {
			err = fmt.Errorf("%w: %w", sentinel, err)
		}
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "cannot reach the S3 service at " + s.base.String(), Err: err}
	}
	switch api.Code {
	case "SignatureDoesNotMatch":
		return &ConfigError{Var: "S3_SECRET_ACCESS_KEY", Reason: "the server rejects the signature: the secret key does not match the access key", Err: err}
	case "InvalidAccessKeyId", "XAdminUserNotFound":
		return &ConfigError{Var: "S3_ACCESS_KEY_ID", Reason: "the server does not know this access key", Err: err}
	case "InvalidToken", "ExpiredToken", "TokenRefreshRequired":
		return &ConfigError{Var: "S3_SESSION_TOKEN", Reason: "the session token is invalid or expired", Err: err}
	case "NoSuchBucket":
		return &ConfigError{Var: "S3_BUCKET", Reason: "bucket " + s.bucket + " does not exist", Err: err}
	case "AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException", "InvalidRegion":
		return &ConfigError{Var: "S3_REGION", Reason: "the bucket is not in region " + s.signer.Region, Err: err}
	case "AccessDenied", "AllAccessDisabled":
		return &ConfigError{Var: "S3_ACCESS_KEY_ID", Reason: "these credentials may not list bucket " + s.bucket + " (s3:ListBucket is needed)", Err: err}
	case "RequestTimeTooSkewed":
		return &ConfigError{Var: "S3_ENDPOINT", Reason: "the server's clock and this host's differ too much; fix the clock", Err: err}
	}
	if api.Status == http.StatusMovedPermanently {
		return &ConfigError{Var: "S3_REGION", Reason: "the bucket is not in region " + s.signer.Region, Err: err}
	}
	return &ConfigError{Var: "S3_ENDPOINT", Reason: "unexpected answer; is this an S3 service?", Err: err}
}
