package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// The multipart operations over package upload's [upload.Multipart]: the
// state in the database, the parts in the backend, so parts go to any
// replica. The upload id reaches only an open upload of the key the
// request names (upload.Multipart.Get), and the request was decided on
// that key: a principal touches only uploads it could have created.

// errOperationAborted answers a request that lost a race: a completion
// in progress, or an object created or replaced while the upload was
// being completed.
var errOperationAborted = &Error{"OperationAborted", http.StatusConflict, "A conflicting conditional operation is currently in progress against this resource. Please try again."}

// maxCompleteBody bounds the part list of CompleteMultipartUpload: 10,000
// parts with every checksum fit well within it.
const maxCompleteBody = 4 << 20

// multipartError returns the S3 error of a failure of the multipart
// service, or err for [Server.classify].
func multipartError(err error) error {
	switch {
	case errors.Is(err, upload.ErrNotFound):
		return errNoSuchUpload
	case errors.Is(err, upload.ErrLocked), errors.Is(err, blob.ErrExists), errors.Is(err, blob.ErrPreconditionFailed):
		return errOperationAborted
	case errors.Is(err, upload.ErrInvalidPart):
		return &Error{"InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."}
	case errors.Is(err, upload.ErrInvalidPartOrder):
		return &Error{"InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number."}
	case errors.Is(err, upload.ErrEntityTooSmall):
		return &Error{"EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size."}
	case errors.Is(err, upload.ErrTooLarge):
		return errEntityTooLarge
	case errors.Is(err, upload.ErrInvalid):
		return errInvalidArgument.with("%s", err.Error())
	case errors.Is(err, upload.ErrTooMany):
		return errSlowDown
	}
	return err
}

// fail answers err, a failure of a multipart operation.
func (s *Server) fail(w http.ResponseWriter, rq *request, err error) {
	writeError(w, rq, s.classify(rq, multipartError(err)))
}

// checksumAlgorithms are S3's checksum algorithms, as
// x-amz-checksum-algorithm names them.
var checksumAlgorithms = []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}

// createMultipartUpload serves CreateMultipartUpload.
func (s *Server) createMultipartUpload(w http.ResponseWriter, rq *request) {
	alg := strings.ToUpper(rq.Header.Get("x-amz-checksum-algorithm"))
	if alg != "" && !slices.Contains(checksumAlgorithms, alg) {
		writeError(w, rq, errInvalidRequest.with("Checksum algorithm %q is not supported.", alg))
		return
	}
	u, err := s.cfg.Multipart.Create(rq.ctx(), upload.MultipartNew{
		Key: rq.key, ContentType: rq.Header.Get("Content-Type"), ChecksumAlgorithm: alg, Creator: rq.principal.KeyID,
	})
	if err != nil {
		s.fail(w, rq, err)
		return
	}
	if alg != "" {
		w.Header().Set("x-amz-checksum-algorithm", alg)
	}
	writeXML(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}{Xmlns: xmlns, Bucket: s.cfg.Bucket, Key: rq.key, UploadID: u.ID})
}

// uploadPart serves UploadPart. The part's ETag is the MD5 of its bytes;
// Content-MD5 and an x-amz-checksum-* (header or trailer) are verified as
// PutObject verifies them, and the checksum is kept with the part.
func (s *Server) uploadPart(w http.ResponseWriter, rq *request) {
	n, err := strconv.Atoi(rq.query.Get("partNumber"))
	if err != nil || n < 1 || n > upload.MaxPartNumber {
		writeError(w, rq, errInvalidArgument.with("Part number must be an integer between 1 and %d, inclusive", upload.MaxPartNumber))
		return
	}
	if rq.length < 0 {
		writeError(w, rq, errMissingContentLength)
		return
	}
	d, e := newDigests(rq)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	p, err := s.cfg.Multipart.PutPart(rq.ctx(), rq.query.Get("uploadId"), rq.key, upload.PartWrite{
		Number: n, Body: d, Size: rq.length,
		Check: func() (string, string, error) {
			md5, err := d.check()
			if name, v := d.announced(); name != "" {
				return md5, strings.ToUpper(strings.TrimPrefix(name, "x-amz-checksum-")) + ":" + v, err
			}
			return md5, "", err
		},
	})
	if err != nil {
		s.fail(w, rq, err)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+p.MD5+`"`)
	if alg, v, ok := strings.Cut(p.Checksum, ":"); ok {
		h.Set("x-amz-checksum-"+strings.ToLower(alg), v)
	}
	w.WriteHeader(http.StatusOK)
}

// completeRequest is CompleteMultipartUpload's body.
type completeRequest struct {
	Parts []struct {
		PartNumber        int
		ETag              string
		ChecksumCRC32     string
		ChecksumCRC32C    string
		ChecksumCRC64NVME string
		ChecksumSHA1      string
		ChecksumSHA256    string
	} `xml:"Part"`
}

// completeMultipartUpload serves CompleteMultipartUpload: the listed
// parts become the object, replacing the key's (the request was decided
// for Delete too when the key had one).
func (s *Server) completeMultipartUpload(w http.ResponseWriter, rq *request) {
	body, err := io.ReadAll(io.LimitReader(rq.body, maxCompleteBody+1))
	if err != nil {
		writeError(w, rq, errIncompleteBody)
		return
	}
	var doc completeRequest
	if len(body) > maxCompleteBody || xml.Unmarshal(body, &doc) != nil || len(doc.Parts) == 0 {
		writeError(w, rq, errMalformedXML)
		return
	}
	list := make([]upload.CompletedPart, len(doc.Parts))
	for i, p := range doc.Parts {
		list[i] = upload.CompletedPart{Number: p.PartNumber, ETag: p.ETag}
		for j, v := range []string{p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256} {
			if v != "" {
				list[i].Checksum = checksumAlgorithms[j] + ":" + v
			}
		}
	}
	type result struct {
		b   blob.Blob
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := s.cfg.Multipart.Complete(rq.ctx(), rq.query.Get("uploadId"), rq.key, list, hasAlso(rq, access.Delete))
		testHookCompleted()
		done <- result{b, err}
	}()
	var r result
	spaced := false
	select {
	case r = <-done:
	case <-time.After(completeWait):
		spaced = true
		r = awaitSpacing(w, done)
	}
	var e *Error
	if r.err != nil {
		e = s.classify(rq, multipartError(r.err))
	}
	res := struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{Xmlns: xmlns, Location: "/" + s.cfg.Bucket + "/" + rq.key, Bucket: s.cfg.Bucket, Key: rq.key, ETag: etag(r.b)}
	switch {
	case spaced && e != nil:
		w.Write(errorXML(rq, e)) // after a 200, as S3 sends a late error
	case spaced:
		w.Write(marshalXML(res))
	case e != nil:
		writeError(w, rq, e)
	default:
		writeXML(w, http.StatusOK, res)
	}
}

// completeWait is how long CompleteMultipartUpload waits for its result
// before it answers 200 and then keeps the connection alive with a space
// every completeWait until the result, success or error, follows in the
// body, as S3 does: an assembly of many parts on the database or ftp
// backend can take minutes, longer than clients wait for a first byte.
var completeWait = 10 * time.Second

// Test hooks: testHookCompleted runs when a completion has its result,
// before it is answered; testHookSpaced after each space is flushed.
var testHookCompleted, testHookSpaced = func() {}, func() {}

// awaitSpacing answers 200 with the XML declaration at once, sends a space
// every completeWait until a value arrives on done, and returns it. The
// response's header is then written: writeXML and writeError add only
// their body after it.
func awaitSpacing[T any](w http.ResponseWriter, done <-chan T) T {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	io.WriteString(w, xml.Header+" ")
	rc.Flush()
	testHookSpaced()
	tick := time.NewTicker(completeWait)
	defer tick.Stop()
	for {
		select {
		case v := <-done:
			return v
		case <-tick.C:
			io.WriteString(w, " ")
			rc.Flush()
			testHookSpaced()
		}
	}
}

// abortMultipartUpload serves AbortMultipartUpload.
func (s *Server) abortMultipartUpload(w http.ResponseWriter, rq *request) {
	if err := s.cfg.Multipart.Abort(rq.ctx(), rq.query.Get("uploadId"), rq.key); err != nil {
		s.fail(w, rq, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listedPart is one Part of ListParts.
type listedPart struct {
	PartNumber        int    `xml:"PartNumber"`
	LastModified      string `xml:"LastModified"`
	ETag              string `xml:"ETag"`
	Size              int64  `xml:"Size"`
	ChecksumCRC32     string `xml:"ChecksumCRC32,omitempty"`
	ChecksumCRC32C    string `xml:"ChecksumCRC32C,omitempty"`
	ChecksumCRC64NVME string `xml:"ChecksumCRC64NVME,omitempty"`
	ChecksumSHA1      string `xml:"ChecksumSHA1,omitempty"`
	ChecksumSHA256    string `xml:"ChecksumSHA256,omitempty"`
}

// intParam reads the non-negative integer parameter name of rq, def when
// absent, at most max.
func intParam(rq *request, name string, def, max int) (int, *Error) {
	v, ok := rq.query[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0, errInvalidArgument.with("Provided %s not an integer or within integer range", name)
	}
	return min(n, max), nil
}

// listParts serves ListParts.
func (s *Server) listParts(w http.ResponseWriter, rq *request) {
	maxParts, e := intParam(rq, "max-parts", 1000, 1000)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	marker, e := intParam(rq, "part-number-marker", 0, upload.MaxPartNumber)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	u, parts, err := s.cfg.Multipart.Parts(rq.ctx(), rq.query.Get("uploadId"), rq.key, marker, maxParts+1)
	if err != nil {
		s.fail(w, rq, err)
		return
	}
	truncated := len(parts) > maxParts
	parts = parts[:min(len(parts), maxParts)]
	res := struct {
		XMLName              xml.Name     `xml:"ListPartsResult"`
		Xmlns                string       `xml:"xmlns,attr"`
		Bucket               string       `xml:"Bucket"`
		Key                  string       `xml:"Key"`
		UploadID             string       `xml:"UploadId"`
		Initiator            owner        `xml:"Initiator"`
		Owner                owner        `xml:"Owner"`
		StorageClass         string       `xml:"StorageClass"`
		PartNumberMarker     int          `xml:"PartNumberMarker"`
		NextPartNumberMarker int          `xml:"NextPartNumberMarker"`
		MaxParts             int          `xml:"MaxParts"`
		IsTruncated          bool         `xml:"IsTruncated"`
		ChecksumAlgorithm    string       `xml:"ChecksumAlgorithm,omitempty"`
		Parts                []listedPart `xml:"Part"`
	}{Xmlns: xmlns, Bucket: s.cfg.Bucket, Key: rq.key, UploadID: u.ID, Initiator: theOwner, Owner: theOwner, StorageClass: "STANDARD",
		PartNumberMarker: marker, MaxParts: maxParts, IsTruncated: truncated, ChecksumAlgorithm: u.Metadata}
	for _, p := range parts {
		lp := listedPart{PartNumber: p.Number, LastModified: p.CreatedAt.Format(timeISO), ETag: `"` + p.MD5 + `"`, Size: p.Size}
		setChecksum(&lp, p)
		res.Parts = append(res.Parts, lp)
		res.NextPartNumberMarker = p.Number
	}
	writeXML(w, http.StatusOK, res)
}

// setChecksum sets the element of lp that holds p's checksum.
func setChecksum(lp *listedPart, p meta.MultipartPart) {
	alg, v, _ := strings.Cut(p.Checksum, ":")
	for i, f := range []*string{&lp.ChecksumCRC32, &lp.ChecksumCRC32C, &lp.ChecksumCRC64NVME, &lp.ChecksumSHA1, &lp.ChecksumSHA256} {
		if checksumAlgorithms[i] == alg {
			*f = v
		}
	}
}

// listMultipartUploads serves ListMultipartUploads, by key then upload id;
// a confined key lists only uploads of keys under its prefix.
func (s *Server) listMultipartUploads(w http.ResponseWriter, rq *request) {
	l, e := parseListing(rq.query)
	if e == nil {
		l.maxKeys, e = intParam(rq, "max-uploads", 1000, 1000)
	}
	if e != nil {
		writeError(w, rq, e)
		return
	}
	keyMarker, idMarker := rq.query.Get("key-marker"), rq.query.Get("upload-id-marker")
	var page upload.MultipartPage
	if l.maxKeys > 0 && !rq.decision.ListNothing {
		var err error
		page, err = s.cfg.Multipart.List(rq.ctx(), upload.MultipartListing{
			Prefix: l.prefix, Delimiter: l.delimiter, Within: rq.decision.ListPrefix,
			KeyMarker: keyMarker, UploadIDMarker: idMarker, Limit: l.maxKeys,
		})
		if err != nil {
			s.fail(w, rq, err)
			return
		}
	}
	type listedUpload struct {
		Key          string `xml:"Key"`
		UploadID     string `xml:"UploadId"`
		Initiator    owner  `xml:"Initiator"`
		Owner        owner  `xml:"Owner"`
		StorageClass string `xml:"StorageClass"`
		Initiated    string `xml:"Initiated"`
	}
	res := struct {
		XMLName            xml.Name       `xml:"ListMultipartUploadsResult"`
		Xmlns              string         `xml:"xmlns,attr"`
		Bucket             string         `xml:"Bucket"`
		KeyMarker          string         `xml:"KeyMarker"`
		UploadIDMarker     string         `xml:"UploadIdMarker"`
		NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
		NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
		Prefix             string         `xml:"Prefix"`
		Delimiter          string         `xml:"Delimiter,omitempty"`
		MaxUploads         int            `xml:"MaxUploads"`
		IsTruncated        bool           `xml:"IsTruncated"`
		EncodingType       string         `xml:"EncodingType,omitempty"`
		Uploads            []listedUpload `xml:"Upload"`
		CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
	}{Xmlns: xmlns, Bucket: s.cfg.Bucket, KeyMarker: l.encode(keyMarker), UploadIDMarker: idMarker, Prefix: l.encode(l.prefix),
		Delimiter: l.encode(l.delimiter), MaxUploads: l.maxKeys, IsTruncated: page.Truncated, EncodingType: l.encodingType}
	lastKey, lastID := "", ""
	for _, u := range page.Uploads {
		res.Uploads = append(res.Uploads, listedUpload{Key: l.encode(u.BlobID), UploadID: u.ID, Initiator: theOwner, Owner: theOwner,
			StorageClass: "STANDARD", Initiated: u.CreatedAt.Format(timeISO)})
		lastKey, lastID = u.BlobID, u.ID
	}
	for _, f := range page.Prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: l.encode(f)})
		if f > lastKey {
			lastKey, lastID = f, ""
		}
	}
	if page.Truncated {
		res.NextKeyMarker, res.NextUploadIDMarker = l.encode(lastKey), lastID
	}
	writeXML(w, http.StatusOK, res)
}
