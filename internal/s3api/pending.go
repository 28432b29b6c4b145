package s3api

import "net/http"

// The multipart operations, answered NotImplemented until multipart.go
// implements them (remove each from here then).

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
