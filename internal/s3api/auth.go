package s3api

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/sigv4"
)

// authorize authenticates rq by its signature, extracts the facts of its
// operation's row and asks [access.Controller.Decide], on the request's
// headers alone. It answers the request itself and returns false when rq
// may not go on; otherwise rq holds its principal, decision and verified
// body.
func (s *Server) authorize(w http.ResponseWriter, rq *request) bool {
	req := access.Request{Action: rq.op.action, Client: access.ClientKey(rq.RemoteAddr), Now: time.Now()}
	var authErr *Error
	req.Principal, authErr = s.authenticate(rq)
	if authErr != nil {
		req.Refused = authErr
	}
	var extractErr error
	rq.principal = req.Principal
	if req.Refused == nil && req.Principal.Kind != access.Anonymous {
		req.Target, req.Also, extractErr = rq.op.target.extract(s, rq)
	}
	d := s.cfg.Access.Decide(req)
	switch d.Verdict {
	case access.Allow:
	case access.Limited:
		writeError(w, rq, errSlowDown)
		return false
	case access.Unauthenticated:
		if authErr != nil {
			writeError(w, rq, authErr)
		} else {
			writeError(w, rq, errAccessDenied)
		}
		return false
	case access.Absent:
		if rq.op.action == access.Read && req.Target.Kind == access.BlobID {
			writeError(w, rq, errNoSuchKey) // as if absent, as the native API answers
		} else {
			writeError(w, rq, errAccessDenied)
		}
		return false
	default:
		writeError(w, rq, errAccessDenied)
		return false
	}
	if extractErr != nil {
		writeError(w, rq, s.classify(rq, extractErr))
		return false
	}
	if !rq.op.anyBucket && rq.bucket != s.cfg.Bucket {
		writeError(w, rq, errNoSuchBucket)
		return false
	}
	rq.decision, rq.also = d, req.Also
	return true
}

// authenticate returns the principal of rq's signature and sets rq's
// verified body. A request without a signature is anonymous; a signature
// that does not verify is refused with its S3 error. The operator's pair
// is compared in constant time; API keys are looked up through access,
// which keeps revoked and expired keys out.
func (s *Server) authenticate(rq *request) (access.Principal, *Error) {
	var p access.Principal
	v := sigv4.Verifier{Region: s.cfg.Region, Service: "s3", Secret: func(ctx context.Context, id string) (string, error) {
		if op := s.cfg.Operator; op.AccessKeyID != "" && subtle.ConstantTimeCompare([]byte(id), []byte(op.AccessKeyID)) == 1 {
			p = access.OperatorPrincipal
			return op.SecretAccessKey, nil
		}
		kp, secret, err := s.cfg.Access.S3Key(ctx, id)
		if errors.Is(err, keys.ErrInvalidToken) {
			return "", sigv4.ErrUnknownKey
		}
		p = kp
		return secret, err
	}}
	vd, err := v.Verify(rq.Request)
	var se *sigv4.Error
	switch {
	case errors.Is(err, sigv4.ErrAnonymous):
		return access.Principal{}, nil
	case errors.As(err, &se):
		return access.Principal{}, &Error{Code: se.Code, Status: se.Status, Message: se.Message}
	case err != nil:
		s.log.LogAttrs(rq.ctx(), slog.LevelWarn, "s3 credentials could not be looked up", slog.String("request_id", rq.id), slog.String("error", err.Error()))
		return access.Principal{}, errServiceUnavailable
	}
	rq.body = &countingBody{ReadCloser: vd.Body}
	rq.length = vd.DecodedLength
	rq.trailer = vd.Trailer
	return p, nil
}
