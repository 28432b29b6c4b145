package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/config"
)

// benchOptions are the flags of simpledrive bench.
type benchOptions struct {
	op, api     string
	size        int64
	concurrency int
	duration    time.Duration
	objects     int
	keep        bool
}

func newBench(env Env) *cobra.Command {
	var (
		b    benchOptions
		size string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a running server and measure it",
		Long: "Send requests to a running server from --concurrency workers in a closed loop (each sends its\n" +
			"next request when the last is answered) for --duration, then print requests/s, MB/s,\n" +
			"latency percentiles, errors by status, and the CPU the bench itself used (so one can tell\n" +
			"it was not the bottleneck). Bodies are made before the clock starts; get and mixed first\n" +
			"store --objects blobs to read. Blobs the bench made are deleted at the end unless --keep.",
		Example: "  simpledrive bench --op put --api raw --size 1MiB --concurrency 16 --duration 30s",
		Args:    noArgs,
	}
	o := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVar(&b.op, "op", "put", "put, get or mixed (half each)")
	f.StringVar(&b.api, "api", "raw", "json (POST/GET of base64 JSON) or raw (PUT and GET ?alt=media)")
	f.StringVar(&size, "size", "1KiB", "bytes per blob")
	f.IntVar(&b.concurrency, "concurrency", 8, "requests in flight")
	f.DurationVar(&b.duration, "duration", 10*time.Second, "how long to measure")
	f.IntVar(&b.objects, "objects", 64, "blobs stored beforehand for get and mixed")
	f.BoolVar(&b.keep, "keep", false, "keep the blobs the bench stored")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var err error
		if b.size, err = config.ParseBytes(size); err != nil {
			return usageError("--size: %v", err)
		}
		switch {
		case b.op != "put" && b.op != "get" && b.op != "mixed":
			return usageError("--op must be put, get or mixed, got %q", b.op)
		case b.api != "json" && b.api != "raw":
			return usageError("--api must be json or raw, got %q", b.api)
		case b.concurrency < 1 || b.objects < 1 || b.duration <= 0:
			return usageError("--concurrency, --objects and --duration must be positive")
		}
		if _, err := o.client(); err != nil {
			return err
		}
		base := o.url
		if base == "" {
			base = env.Getenv("SIMPLEDRIVE_URL")
		}
		if base == "" {
			base = "http://localhost:8080"
		}
		tok := o.token
		if tok == "" {
			tok = env.Getenv("SIMPLEDRIVE_TOKEN")
		}
		r, err := runBench(cmd.Context(), strings.TrimSuffix(base, "/"), tok, b)
		if err != nil {
			return apiError(err)
		}
		if o.json {
			o.printJSON(r)
		} else if !o.quiet {
			r.print(env.Stdout)
		}
		return nil
	}
	return cmd
}

// benchResult is what a bench measured; its JSON form is the --json output.
type benchResult struct {
	Op          string         `json:"op"`
	API         string         `json:"api"`
	Size        int64          `json:"size"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int64          `json:"requests"`
	Successes   int64          `json:"successes"`
	Errors      int64          `json:"errors"`
	ErrorsBy    map[string]int `json:"errors_by_status"`
	RPS         float64        `json:"requests_per_s"`
	MBps        float64        `json:"mb_per_s"`
	P50         float64        `json:"latency_p50_ms"`
	P90         float64        `json:"latency_p90_ms"`
	P99         float64        `json:"latency_p99_ms"`
	Max         float64        `json:"latency_max_ms"`
	CPUUser     float64        `json:"bench_cpu_user_s"`
	CPUSys      float64        `json:"bench_cpu_sys_s"`
	CPUCores    float64        `json:"bench_cpu_cores"`
}

func (r *benchResult) print(w io.Writer) {
	fmt.Fprintf(w, "%s %s, %s blobs, %d in flight, %.1fs\n", r.Op, r.API, humanBytes(float64(r.Size)), r.Concurrency, r.Seconds)
	fmt.Fprintf(w, "requests   %d (%d ok, %d errors)  %.1f req/s  %.2f MB/s\n", r.Requests, r.Successes, r.Errors, r.RPS, r.MBps)
	fmt.Fprintf(w, "latency    p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", r.P50, r.P90, r.P99, r.Max)
	if len(r.ErrorsBy) > 0 {
		keys := slices.Sorted(maps.Keys(r.ErrorsBy))
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.ErrorsBy[k]))
		}
		fmt.Fprintf(w, "errors     %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "bench CPU  %.2f cores (user %.2fs, sys %.2fs)\n", r.CPUCores, r.CPUUser, r.CPUSys)
}

// bencher sends the bench's requests.
type bencher struct {
	base, token string
	hc          *http.Client
	opts        benchOptions
	data        []byte // the blob
	jsonTail    []byte // `","data":"<base64>"}`
	run         string // id prefix of this run
}

func runBench(ctx context.Context, base, token string, o benchOptions) (*benchResult, error) {
	t := transport()
	t.MaxIdleConnsPerHost = o.concurrency * 2
	t.MaxConnsPerHost = 0
	b := &bencher{base: base, token: token, hc: &http.Client{Transport: t}, opts: o}
	b.data = make([]byte, o.size)
	rand.Read(b.data)
	b.jsonTail = []byte(`","data":"` + base64.StdEncoding.EncodeToString(b.data) + `"}`)
	var rb [6]byte
	rand.Read(rb[:])
	b.run = "bench/" + hex.EncodeToString(rb[:]) + "/"

	// Blobs to read, stored before timing.
	var seeded []string
	if o.op != "put" {
		seeded = make([]string, o.objects)
		errs := make(chan error, o.objects)
		sem := make(chan struct{}, o.concurrency)
		var wg sync.WaitGroup
		for i := range seeded {
			seeded[i] = fmt.Sprintf("%sseed-%d", b.run, i)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if status, err := b.put(ctx, seeded[i], "raw"); err != nil || status != http.StatusCreated {
					errs <- fmt.Errorf("storing the blobs to read: %d %v", status, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return nil, err
		}
	}

	type workerResult struct {
		lat      []time.Duration
		ok, fail int64
		by       map[string]int
		created  []string
	}
	results := make([]workerResult, o.concurrency)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	deadline := start.Add(o.duration)
	runCtx, cancel := context.WithDeadline(ctx, deadline.Add(30*time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.by = map[string]int{}
			res.lat = make([]time.Duration, 0, 4096)
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
				put := o.op == "put" || (o.op == "mixed" && rng.IntN(2) == 0)
				var status int
				var err error
				t0 := time.Now()
				if put {
					id := fmt.Sprintf("%s%d-%d", b.run, w, seq)
					status, err = b.put(runCtx, id, o.api)
					if status == http.StatusCreated {
						res.created = append(res.created, id)
					}
				} else {
					status, err = b.get(runCtx, seeded[rng.IntN(len(seeded))], o.api)
				}
				res.lat = append(res.lat, time.Since(t0))
				want := http.StatusOK
				if put {
					want = http.StatusCreated
				}
				switch {
				case err != nil:
					res.fail++
					res.by["network"]++
				case status != want:
					res.fail++
					res.by[strconv.Itoa(status)]++
				default:
					res.ok++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)

	r := &benchResult{Op: o.op, API: o.api, Size: o.size, Concurrency: o.concurrency, Seconds: elapsed.Seconds(), ErrorsBy: map[string]int{}}
	var lat []time.Duration
	var created []string
	for _, w := range results {
		r.Successes += w.ok
		r.Errors += w.fail
		for k, v := range w.by {
			r.ErrorsBy[k] += v
		}
		lat = append(lat, w.lat...)
		created = append(created, w.created...)
	}
	r.Requests = int64(len(lat))
	r.RPS = float64(r.Requests) / elapsed.Seconds()
	r.MBps = float64(r.Successes) * float64(o.size) / 1e6 / elapsed.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return float64(lat[max(i, 0)]) / 1e6
	}
	r.P50, r.P90, r.P99, r.Max = pct(0.5), pct(0.9), pct(0.99), pct(1)
	r.CPUUser = tvSeconds(after.Utime) - tvSeconds(before.Utime)
	r.CPUSys = tvSeconds(after.Stime) - tvSeconds(before.Stime)
	r.CPUCores = (r.CPUUser + r.CPUSys) / elapsed.Seconds()

	if !o.keep {
		b.deleteAll(ctx, append(created, seeded...))
	}
	return r, nil
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// put stores the bench's blob under id and returns the status.
func (b *bencher) put(ctx context.Context, id, api string) (int, error) {
	var req *http.Request
	var err error
	if api == "raw" {
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, b.base+"/v1/blobs/"+url.PathEscape(id), bytes.NewReader(b.data))
		if err == nil {
			req.ContentLength = int64(len(b.data))
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	} else {
		// The body is the prepared base64, with the id before it: no copy.
		head := `{"id":"` + id
		body := io.MultiReader(strings.NewReader(head), bytes.NewReader(b.jsonTail))
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/v1/blobs", body)
		if err == nil {
			req.ContentLength = int64(len(head) + len(b.jsonTail))
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return 0, err
	}
	return b.send(req)
}

// get reads the blob id whole and returns the status.
func (b *bencher) get(ctx context.Context, id, api string) (int, error) {
	u := b.base + "/v1/blobs/" + url.PathEscape(id)
	if api == "raw" {
		u += "?alt=media"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	return b.send(req)
}

func (b *bencher) send(req *http.Request) (int, error) {
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = errors.New("short body")
	}
	return resp.StatusCode, err
}

// deleteAll removes the blobs ids, best effort.
func (b *bencher) deleteAll(ctx context.Context, ids []string) {
	ch := make(chan string)
	var wg sync.WaitGroup
	for range b.opts.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.base+"/v1/blobs/"+url.PathEscape(id), nil)
				if err == nil {
					b.send(req)
				}
			}
		}()
	}
	for _, id := range ids {
		ch <- id
	}
	close(ch)
	wg.Wait()
}
