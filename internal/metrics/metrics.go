// Package metrics holds Simple Drive's Prometheus metrics: one registry per
// [Metrics] (never the global default, so tests can run several servers in
// one process) and the observers the other packages report to, so that
// none of them imports Prometheus.
//
// # Metrics
//
//	simpledrive_http_requests_total{route,method,code}       requests answered
//	simpledrive_http_request_duration_seconds{route,method}   latency histogram
//	simpledrive_http_request_bytes_total{route,method}        request body bytes read
//	simpledrive_http_response_bytes_total{route,method}       response body bytes written
//	simpledrive_http_rate_limited_total                       requests refused with 429
//	simpledrive_s3_requests_total{operation,code}              S3 front door requests answered
//	simpledrive_s3_request_duration_seconds{operation}         S3 latency histogram
//	simpledrive_s3_request_bytes_total{operation}              S3 request body bytes read
//	simpledrive_s3_response_bytes_total{operation}             S3 response body bytes written
//	simpledrive_backend_operations_total{backend,operation,outcome}
//	simpledrive_backend_operation_duration_seconds{backend,operation}
//	simpledrive_blobs_created_total, simpledrive_blob_bytes_created_total
//	simpledrive_blobs_deleted_total, simpledrive_blob_bytes_deleted_total
//	go_sql_*{db_name}                                         database pool stats
//	go_*, process_*                                           the Go and process collectors
//
// Labels are route patterns ("/v1/blobs/{id}"), methods, status codes,
// backend and operation names: never blob ids, key ids or tokens, so the
// number of series is bounded by the code, not by clients.
package metrics

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// Metrics is one server's metrics and their registry. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	bytesIn     *prometheus.CounterVec
	bytesOut    *prometheus.CounterVec
	rateLimited prometheus.Counter

	s3Requests *prometheus.CounterVec
	s3Duration *prometheus.HistogramVec
	s3BytesIn  *prometheus.CounterVec
	s3BytesOut *prometheus.CounterVec

	backendOps      *prometheus.CounterVec
	backendDuration *prometheus.HistogramVec

	blobsCreated, bytesCreated prometheus.Counter
	blobsDeleted, bytesDeleted prometheus.Counter
}

// New returns the metrics of one server, in a registry of their own that
// also holds the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "simpledrive_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_http_request_bytes_total",
			Help: "Request body bytes read, by route pattern and method.",
		}, []string{"route", "method"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_http_response_bytes_total",
			Help: "Response body bytes written, by route pattern and method.",
		}, []string{"route", "method"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simpledrive_http_rate_limited_total",
			Help: "Requests refused with 429 by the rate limiter.",
		}),
		s3Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_s3_requests_total",
			Help: "S3 front door requests answered, by S3 operation name and status code.",
		}, []string{"operation", "code"}),
		s3Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "simpledrive_s3_request_duration_seconds",
			Help:    "Time from an S3 request's arrival to the end of its response, by S3 operation name.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"operation"}),
		s3BytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_s3_request_bytes_total",
			Help: "S3 request payload bytes read, by S3 operation name.",
		}, []string{"operation"}),
		s3BytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_s3_response_bytes_total",
			Help: "S3 response body bytes written, by S3 operation name.",
		}, []string{"operation"}),
		backendOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simpledrive_backend_operations_total",
			Help: "Calls to the storage backend, by backend, operation and outcome (ok, not_found, canceled, busy, error).",
		}, []string{"backend", "operation", "outcome"}),
		backendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "simpledrive_backend_operation_duration_seconds",
			Help:    "Latency of calls to the storage backend (for reads, the time to open the bytes), by backend and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"backend", "operation"}),
		blobsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simpledrive_blobs_created_total", Help: "Blobs created.",
		}),
		bytesCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simpledrive_blob_bytes_created_total", Help: "Bytes of the blobs created.",
		}),
		blobsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simpledrive_blobs_deleted_total", Help: "Blobs deleted.",
		}),
		bytesDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simpledrive_blob_bytes_deleted_total", Help: "Bytes of the blobs deleted.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.bytesIn, m.bytesOut, m.rateLimited,
		m.s3Requests, m.s3Duration, m.s3BytesIn, m.s3BytesOut,
		m.backendOps, m.backendDuration,
		m.blobsCreated, m.bytesCreated, m.blobsDeleted, m.bytesDeleted,
	)
	return m
}

// Registry returns the registry holding every metric of m.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// AddDB exports the connection pool stats of pool as go_sql_* with the
// label db_name=name.
func (m *Metrics) AddDB(name string, pool *sql.DB) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(pool, name))
}

// ObserveRequest records one answered HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, in, out int64, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	if in > 0 {
		m.bytesIn.WithLabelValues(route, method).Add(float64(in))
	}
	if out > 0 {
		m.bytesOut.WithLabelValues(route, method).Add(float64(out))
	}
}

// ObserveS3 records one S3 request answered.
func (m *Metrics) ObserveS3(operation string, status int, in, out int64, d time.Duration) {
	m.s3Requests.WithLabelValues(operation, strconv.Itoa(status)).Inc()
	m.s3Duration.WithLabelValues(operation).Observe(d.Seconds())
	m.s3BytesIn.WithLabelValues(operation).Add(float64(in))
	m.s3BytesOut.WithLabelValues(operation).Add(float64(out))
}

// RateLimited records a request refused by the rate limiter.
func (m *Metrics) RateLimited() { m.rateLimited.Inc() }

// ObserveBackend implements [storage.Observer].
func (m *Metrics) ObserveBackend(backend, op string, err error, d time.Duration) {
	m.backendOps.WithLabelValues(backend, op, outcome(err)).Inc()
	m.backendDuration.WithLabelValues(backend, op).Observe(d.Seconds())
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, storage.ErrNotFound):
		return "not_found"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, storage.ErrBusy):
		return "busy"
	}
	return "error"
}

// BlobCreated implements blob.Observer.
func (m *Metrics) BlobCreated(size int64) {
	m.blobsCreated.Inc()
	m.bytesCreated.Add(float64(size))
}

// BlobDeleted implements blob.Observer.
func (m *Metrics) BlobDeleted(size int64) {
	m.blobsDeleted.Inc()
	m.bytesDeleted.Add(float64(size))
}

var _ storage.Observer = (*Metrics)(nil)
