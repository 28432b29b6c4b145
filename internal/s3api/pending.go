package s3api

import "net/http"

// The listing and multipart operations, answered NotImplemented until
// list.go and multipart.go implement them (remove each from here then).

func (s *Server) listObjectsV2(w http.ResponseWriter, rq *request) { notImplemented(s, w, rq) }
func (s *Server) listObjects(w http.ResponseWriter, rq *request)   { notImplemented(s, w, rq) }
func (s *Server) listMultipartUploads(w http.ResponseWriter, rq *request) {
	notImplemented(s, w, rq)
}
func (s *Server) createMultipartUpload(w http.ResponseWriter, rq *request) {
	notImplemented(s, w, rq)
}
func (s *Server) uploadPart(w http.ResponseWriter, rq *request)     { notImplemented(s, w, rq) }
func (s *Server) uploadPartCopy(w http.ResponseWriter, rq *request) { notImplemented(s, w, rq) }
func (s *Server) completeMultipartUpload(w http.ResponseWriter, rq *request) {
	notImplemented(s, w, rq)
}
func (s *Server) abortMultipartUpload(w http.ResponseWriter, rq *request) {
	notImplemented(s, w, rq)
}
func (s *Server) listParts(w http.ResponseWriter, rq *request) { notImplemented(s, w, rq) }
