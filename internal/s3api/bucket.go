package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

// xmlns is the namespace of S3's response documents.
const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// writeXML answers status with the XML document v.
func writeXML(w http.ResponseWriter, status int, v any) {
	body := append([]byte(xml.Header), marshalXML(v)...)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// marshalXML returns the XML encoding of v, a response type, without the
// declaration.
func marshalXML(v any) []byte {
	body, err := xml.Marshal(v)
	if err != nil {
		panic(err) // the response types always encode
	}
	return body
}

// owner is the owner every bucket and object is listed with: the server.
type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

var theOwner = owner{ID: "simpledrive", DisplayName: "simpledrive"}

// bucketCreated is when the one bucket is said to have been created: the
// server knows no such time, so it names a fixed one.
var bucketCreated = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// listBuckets serves ListBuckets: the one bucket.
func (s *Server) listBuckets(w http.ResponseWriter, rq *request) {
	type bucket struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
		BucketRegion string `xml:"BucketRegion"`
	}
	writeXML(w, http.StatusOK, struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		Owner   owner    `xml:"Owner"`
		Buckets []bucket `xml:"Buckets>Bucket"`
	}{Xmlns: xmlns, Owner: theOwner, Buckets: []bucket{{Name: s.cfg.Bucket, CreationDate: bucketCreated.Format(timeISO), BucketRegion: s.cfg.Region}}})
}

// timeISO is the layout of times in S3's XML documents.
const timeISO = "2006-01-02T15:04:05.000Z"

// headBucket serves HeadBucket.
func (s *Server) headBucket(w http.ResponseWriter, _ *request) {
	w.Header().Set("x-amz-bucket-region", s.cfg.Region)
	w.WriteHeader(http.StatusOK)
}

// getBucketLocation serves GetBucketLocation: S3 answers an empty
// constraint for us-east-1.
func (s *Server) getBucketLocation(w http.ResponseWriter, _ *request) {
	region := s.cfg.Region
	if region == DefaultRegion {
		region = ""
	}
	writeXML(w, http.StatusOK, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Xmlns   string   `xml:"xmlns,attr"`
		Region  string   `xml:",chardata"`
	}{Xmlns: xmlns, Region: region})
}

// createBucket serves CreateBucket of the one bucket: it exists, and, as
// us-east-1 answers the owner of a bucket, creating it again succeeds.
func (s *Server) createBucket(w http.ResponseWriter, rq *request) {
	w.Header().Set("Location", "/"+s.cfg.Bucket)
	w.WriteHeader(http.StatusOK)
}
