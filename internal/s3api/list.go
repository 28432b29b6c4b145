package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/sigv4"
)

// ListObjectsV2 and ListObjects (v1) over the blob service's listing: the
// same bytewise order as the native listing, one index range scan per page,
// folders (CommonPrefixes) folded by the metadata store. A key confined to
// a prefix lists only ids under it, while the folders are still those of
// the prefix asked for (blob.ListOptions.Within).

// maxKeys is the most entries a page holds, and the default.
const maxKeys = blob.MaxListLimit

// listObject is one entry of Contents.
type listObject struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	Owner        *owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
}

// commonPrefix is one entry of CommonPrefixes.
type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listV2Result is ListObjectsV2's document.
type listV2Result struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	KeyCount              int            `xml:"KeyCount"`
	IsTruncated           bool           `xml:"IsTruncated"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	Contents              []listObject   `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// listV1Result is ListObjects' document.
type listV1Result struct {
	XMLName        xml.Name       `xml:"ListBucketResult"`
	Xmlns          string         `xml:"xmlns,attr"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
	Contents       []listObject   `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

// listing is what both versions ask for, parsed from the query.
type listing struct {
	prefix, delimiter string
	maxKeys           int
	// encode escapes the names of the document when encoding-type=url.
	encode func(string) string
	// encodingType echoes encoding-type.
	encodingType string
}

// parseListing reads the parameters both versions share.
func parseListing(q url.Values) (listing, *Error) {
	l := listing{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: maxKeys, encode: func(s string) string { return s }}
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return listing{}, errInvalidArgument.with("Provided max-keys not an integer or within integer range")
		}
		l.maxKeys = min(n, maxKeys)
	}
	switch e := q.Get("encoding-type"); e {
	case "":
	case "url":
		// S3 percent-encodes each byte outside the unreserved set, '/'
		// excepted, so names holding XML-hostile bytes survive; clients
		// decode it as a query component.
		l.encode, l.encodingType = sigv4.EscapePath, e
	default:
		return listing{}, errInvalidArgument.with("Invalid Encoding Method specified in Request")
	}
	return l, nil
}

// page lists one page of l from cursor or after startAfter, within the
// request's access decision; maxKeys 0 is an empty page.
func (s *Server) page(rq *request, l listing, cursor, startAfter string) (blob.Page, error) {
	if l.maxKeys == 0 || rq.decision.ListNothing {
		return blob.Page{}, nil
	}
	p, err := s.cfg.Blobs.List(rq.ctx(), blob.ListOptions{
		Prefix: l.prefix, Delimiter: l.delimiter, Limit: l.maxKeys, Cursor: cursor, StartAfter: startAfter,
		Within: rq.decision.ListPrefix,
	})
	if errors.Is(err, blob.ErrInvalidListing) {
		return blob.Page{}, errInvalidArgument.with("%s", err.Error())
	}
	return p, err
}

// entries returns the Contents and CommonPrefixes of p, names encoded.
func (l listing) entries(p blob.Page, withOwner bool) ([]listObject, []commonPrefix) {
	objects := make([]listObject, len(p.Blobs))
	for i, b := range p.Blobs {
		objects[i] = listObject{Key: l.encode(b.ID), LastModified: b.CreatedAt.UTC().Format(timeISO), ETag: etag(b), Size: b.Size, StorageClass: "STANDARD"}
		if withOwner {
			objects[i].Owner = &theOwner
		}
	}
	prefixes := make([]commonPrefix, len(p.Prefixes))
	for i, f := range p.Prefixes {
		prefixes[i] = commonPrefix{Prefix: l.encode(f)}
	}
	return objects, prefixes
}

// listObjectsV2 serves ListObjectsV2. The continuation token is the
// blob listing's opaque cursor; start-after applies to the first page.
func (s *Server) listObjectsV2(w http.ResponseWriter, rq *request) {
	l, e := parseListing(rq.query)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	token, startAfter := rq.query.Get("continuation-token"), rq.query.Get("start-after")
	if _, ok := rq.query["continuation-token"]; ok && token == "" {
		writeError(w, rq, errInvalidArgument.with("The continuation token provided is incorrect"))
		return
	}
	p, err := s.page(rq, l, token, startAfter)
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	objects, prefixes := l.entries(p, rq.query.Get("fetch-owner") == "true")
	writeXML(w, http.StatusOK, listV2Result{
		Xmlns: xmlns, Name: s.cfg.Bucket, Prefix: l.encode(l.prefix), Delimiter: l.encode(l.delimiter),
		MaxKeys: l.maxKeys, KeyCount: len(objects) + len(prefixes), IsTruncated: p.NextCursor != "",
		ContinuationToken: token, NextContinuationToken: p.NextCursor, StartAfter: l.encode(startAfter),
		EncodingType: l.encodingType, Contents: objects, CommonPrefixes: prefixes,
	})
}

// listObjects serves ListObjects (v1). The marker is a key, or a folder
// of the listing (then the listing goes on after all of it); NextMarker,
// given with a delimiter, is the page's last key or folder, which the
// client sends back as the marker.
func (s *Server) listObjects(w http.ResponseWriter, rq *request) {
	l, e := parseListing(rq.query)
	if e != nil {
		writeError(w, rq, e)
		return
	}
	marker := rq.query.Get("marker")
	p, err := s.page(rq, l, "", marker)
	if err != nil {
		writeError(w, rq, s.classify(rq, err))
		return
	}
	objects, prefixes := l.entries(p, true)
	res := listV1Result{
		Xmlns: xmlns, Name: s.cfg.Bucket, Prefix: l.encode(l.prefix), Marker: l.encode(marker), MaxKeys: l.maxKeys,
		Delimiter: l.encode(l.delimiter), IsTruncated: p.NextCursor != "", EncodingType: l.encodingType,
		Contents: objects, CommonPrefixes: prefixes,
	}
	if res.IsTruncated && l.delimiter != "" {
		res.NextMarker = l.encode(lastEntry(p))
	}
	writeXML(w, http.StatusOK, res)
}

// lastEntry returns the bytewise greatest id or folder of p.
func lastEntry(p blob.Page) string {
	var last string
	if n := len(p.Blobs); n > 0 {
		last = p.Blobs[n-1].ID
	}
	if n := len(p.Prefixes); n > 0 && p.Prefixes[n-1] > last {
		last = p.Prefixes[n-1]
	}
	return last
}
