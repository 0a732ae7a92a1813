package exporter

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// Runner runs one mailprobe command line and returns its report; a
// command that could not run at all still returns a report that says so.
type Runner func(ctx context.Context, args []string) *report.Report

// Server answers /probe, /metrics and /-/healthy.
type Server struct {
	cfg *Config
	run Runner
	now func() time.Time

	slots   chan struct{} // total concurrency
	mu      sync.Mutex
	targets map[string]*targetSlots // per-target bound

	reg      *prometheus.Registry
	probes   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// scrapeMargin is kept free of a scrape's timeout for the answer itself.
const scrapeMargin = 500 * time.Millisecond

// NewServer makes the exporter for a parsed config.
func NewServer(cfg *Config, run Runner) *Server {
	s := &Server{
		cfg: cfg, run: run, now: time.Now,
		slots:   make(chan struct{}, cfg.Limits.Concurrency),
		targets: map[string]*targetSlots{},
		reg:     prometheus.NewRegistry(),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailprobe_exporter_probes_total", Help: "Probes run, by module and result (success, failure).",
		}, []string{"module", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailprobe_exporter_probes_refused_total", Help: "Probe requests refused before running, by reason.",
		}, []string{"reason"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mailprobe_exporter_probe_duration_seconds", Help: "How long probes took, by module.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"module"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailprobe_exporter_probes_in_flight", Help: "Probes running now.",
		}),
	}
	s.reg.MustRegister(s.probes, s.refused, s.seconds, s.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name := range cfg.Modules {
		s.seconds.WithLabelValues(name)
		for _, r := range []string{"success", "failure"} {
			s.probes.WithLabelValues(name, r)
		}
	}
	return s
}

// Handler is the exporter's HTTP interface.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /probe", s.probe)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("GET /{$}", s.index)
	return mux
}

// Serve answers on ln until ctx ends, then stops taking requests and
// waits (up to grace) for the probes in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A probe answers within MaxTimeout; the write deadline leaves room.
		WriteTimeout:   s.cfg.Limits.MaxTimeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-done
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: probes still running after %s", grace)
	}
	return err
}

func (s *Server) refuse(w http.ResponseWriter, code int, reason, msg string) {
	s.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

func (s *Server) probe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, target := q.Get("module"), q.Get("target")
	m, ok := s.cfg.Modules[name]
	if !ok {
		s.refuse(w, http.StatusBadRequest, "unknown_module", fmt.Sprintf("unknown module %q (modules: %s)", name, strings.Join(s.moduleNames(), ", ")))
		return
	}
	if err := validTarget(target); err != nil {
		s.refuse(w, http.StatusBadRequest, "bad_target", err.Error())
		return
	}
	if !s.cfg.allow.allows(target) {
		s.refuse(w, http.StatusForbidden, "not_allowed", fmt.Sprintf("target %q is not in the config's allow list", target))
		return
	}
	timeout := min(m.Timeout, s.cfg.Limits.MaxTimeout)
	if h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); h != "" {
		if sec, err := strconv.ParseFloat(h, 64); err == nil && sec > 0 {
			timeout = min(timeout, max(time.Duration(sec*float64(time.Second))-scrapeMargin, 100*time.Millisecond))
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	pm := newProbeMetrics()
	start := s.now()
	release, err := s.acquire(ctx, host(target))
	if err != nil {
		// Busy until the deadline: an unsuccessful probe, said so in a
		// metric rather than by an HTTP error Prometheus would only log.
		pm.success.WithLabelValues().Set(0)
		pm.duration.WithLabelValues().Set(s.now().Sub(start).Seconds())
		pm.exitCode.WithLabelValues().Set(report.ExitIncomplete)
		s.refused.WithLabelValues("busy").Inc()
		s.probes.WithLabelValues(name, "failure").Inc()
		promhttp.HandlerFor(pm.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		return
	}
	s.inFlight.Inc()
	rep := s.run(ctx, m.Args(target))
	s.inFlight.Dec()
	release()
	took := s.now().Sub(start)
	pm.observe(rep, m.failOn, took)
	s.seconds.WithLabelValues(name).Observe(took.Seconds())
	result := "failure"
	if rep.ExitCode(m.failOn) == report.ExitOK {
		result = "success"
	}
	s.probes.WithLabelValues(name, result).Inc()
	promhttp.HandlerFor(pm.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// acquire takes a slot of the target, then a total slot, waiting until
// ctx ends at most. In that order: probes queued behind a slow target must
// not hold total slots that other targets' probes could use.
func (s *Server) acquire(ctx context.Context, target string) (func(), error) {
	s.mu.Lock()
	ts := s.targets[target]
	if ts == nil {
		ts = &targetSlots{ch: make(chan struct{}, s.cfg.Limits.PerTarget)}
		s.targets[target] = ts
	}
	ts.users++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		if ts.users--; ts.users == 0 {
			delete(s.targets, target)
		}
		s.mu.Unlock()
	}
	select {
	case ts.ch <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		<-ts.ch
		done()
		return nil, ctx.Err()
	}
	return func() {
		<-s.slots
		<-ts.ch
		done()
	}, nil
}

// targetSlots bounds the probes of one target; users counts the probes
// holding or waiting for a slot, so the entry goes when the last one does.
type targetSlots struct {
	ch    chan struct{}
	users int
}

func (s *Server) moduleNames() []string {
	names := make([]string, 0, len(s.cfg.Modules))
	for n := range s.cfg.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString("<!doctype html><title>mailprobe exporter</title><h1>mailprobe exporter</h1>\n<p><a href=\"/metrics\">/metrics</a> · <a href=\"/-/healthy\">/-/healthy</a></p>\n<h2>Modules</h2><table><tr><th>module</th><th>command</th><th>timeout</th></tr>\n")
	for _, n := range s.moduleNames() {
		m := s.cfg.Modules[n]
		fmt.Fprintf(&b, "<tr><td>%s</td><td><code>mailprobe %s</code></td><td>%s</td></tr>\n", html.EscapeString(n), html.EscapeString(strings.Join(m.args, " ")), m.Timeout)
	}
	b.WriteString("</table>\n<p>Probe: <code>/probe?module=NAME&amp;target=HOST[:PORT]</code></p>\n")
	fmt.Fprint(w, b.String())
}
