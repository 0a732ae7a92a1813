package exporter

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// records maps a DNS record to the finding codes that prove it absent and
// the code prefix of its area: mailprobe_dns_record_present{record} is 0
// when an absent code is in the report, 1 when another finding of the area
// is, and not exported when the area was not checked.
var records = []struct {
	name, prefix string
	absent       []string
}{
	{"spf", "spf.", []string{"spf.record.missing"}},
	{"dmarc", "dmarc.", []string{"dmarc.record.missing"}},
	{"mx", "mx.", []string{"mx.record.missing"}},
	{"mta-sts", "mtasts.", []string{"mtasts.record.missing"}},
	{"tls-rpt", "tlsrpt.", []string{"tlsrpt.record.missing"}},
	{"bimi", "bimi.", []string{"bimi.record.missing"}},
	{"dkim", "dkim.key.", []string{"dkim.key.missing", "dkim.selector.none-found"}},
	{"tlsa", "dane.tlsa.", []string{"dane.tlsa.missing"}},
}

// probeMetrics is the registry of one probe: everything the report says,
// as gauges.
type probeMetrics struct {
	reg *prometheus.Registry

	success, duration, exitCode *prometheus.GaugeVec
	stageDuration, stageOK      *prometheus.GaugeVec
	findings                    *prometheus.GaugeVec
	tlsInfo                     *prometheus.GaugeVec
	certNotAfter                *prometheus.GaugeVec
	recordPresent               *prometheus.GaugeVec
	resetDelivery               *prometheus.GaugeVec
}

func gauge(reg *prometheus.Registry, name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	reg.MustRegister(g)
	return g
}

func newProbeMetrics() *probeMetrics {
	reg := prometheus.NewRegistry()
	return &probeMetrics{
		reg:           reg,
		success:       gauge(reg, "mailprobe_probe_success", "1 when the check completed with no finding at or above the module's fail_on."),
		duration:      gauge(reg, "mailprobe_probe_duration_seconds", "How long the probe took."),
		exitCode:      gauge(reg, "mailprobe_probe_exit_code", "The exit code the command would have had: 0 ok, 1 findings, 2 usage, 3 incomplete."),
		stageDuration: gauge(reg, "mailprobe_stage_duration_seconds", "How long each stage took.", "stage"),
		stageOK:       gauge(reg, "mailprobe_stage_ok", "1 when the stage ran and succeeded (ok or info), 0 when it failed, could not run or was skipped.", "stage", "status"),
		findings:      gauge(reg, "mailprobe_findings", "Findings by severity and code.", "severity", "code"),
		tlsInfo:       gauge(reg, "mailprobe_tls_version_info", "The TLS version and cipher suite negotiated (value 1).", "version", "cipher"),
		certNotAfter:  gauge(reg, "mailprobe_cert_not_after_seconds", "Expiry (Unix time) of each certificate the server sent; position 0 is the leaf.", "position", "subject", "issuer", "serial"),
		recordPresent: gauge(reg, "mailprobe_dns_record_present", "1 when the DNS record is published, 0 when it is missing (only areas the check covered).", "record"),
		resetDelivery: gauge(reg, "mailprobe_reset_delivery_seconds", "Time from the end of DATA to the message in the mailbox (reset send with --imap)."),
	}
}

// observe sets the metrics of one finished probe.
func (m *probeMetrics) observe(r *report.Report, failOn report.Severity, took time.Duration) {
	code := r.ExitCode(failOn)
	ok := 0.0
	if code == report.ExitOK {
		ok = 1
	}
	m.success.WithLabelValues().Set(ok)
	m.duration.WithLabelValues().Set(took.Seconds())
	m.exitCode.WithLabelValues().Set(float64(code))
	for _, s := range r.Stages {
		m.stageDuration.WithLabelValues(s.Name).Set(s.Duration.Seconds())
		v := 0.0
		if s.Status == report.StatusOK || s.Status == report.StatusInfo {
			v = 1
		}
		m.stageOK.WithLabelValues(s.Name, string(s.Status)).Set(v)
	}
	for _, f := range r.Findings {
		m.findings.WithLabelValues(f.Severity.String(), f.Code).Add(1)
	}
	for _, rec := range records {
		seen, absent := false, false
		for _, f := range r.Findings {
			if !strings.HasPrefix(f.Code, rec.prefix) {
				continue
			}
			seen = true
			for _, a := range rec.absent {
				absent = absent || f.Code == a
			}
		}
		if seen {
			v := 1.0
			if absent {
				v = 0
			}
			m.recordPresent.WithLabelValues(rec.name).Set(v)
		}
	}
	m.facts(r)
}

// facts reads the structured results the metrics need. Facts are the
// engines' own types; they are read through their JSON form, the report's
// stable contract, so the exporter depends on no engine.
func (m *probeMetrics) facts(r *report.Report) {
	get := func(key string, into any) bool {
		v, ok := r.Facts[key]
		if !ok {
			return false
		}
		b, err := json.Marshal(v)
		return err == nil && json.Unmarshal(b, into) == nil
	}
	var tlsFact struct {
		Version string `json:"version"`
		Cipher  string `json:"cipher"`
		Suite   string `json:"suite"`
	}
	if get("tls", &tlsFact) || get("negotiated", &tlsFact) {
		if tlsFact.Cipher == "" {
			tlsFact.Cipher = tlsFact.Suite
		}
		if tlsFact.Version != "" {
			m.tlsInfo.WithLabelValues(tlsFact.Version, tlsFact.Cipher).Set(1)
		}
	}
	type cert struct {
		Subject  string    `json:"subject"`
		Issuer   string    `json:"issuer"`
		Serial   string    `json:"serial"`
		NotAfter time.Time `json:"not_after"`
	}
	var leaf struct {
		cert
		Chain []cert `json:"chain"`
	}
	if get("certificate", &leaf) && !leaf.NotAfter.IsZero() {
		chain := leaf.Chain
		if len(chain) == 0 {
			chain = []cert{leaf.cert}
		}
		for i, c := range chain {
			m.certNotAfter.WithLabelValues(strconv.Itoa(i), c.Subject, c.Issuer, c.Serial).Set(float64(c.NotAfter.Unix()))
		}
	}
	var ms float64
	if get("latency_ms", &ms) && ms >= 0 {
		m.resetDelivery.WithLabelValues().Set(ms / 1000)
	}
}
