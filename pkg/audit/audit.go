// Package audit is the whole-server audit: which mail ports of a host
// answer (25, 465, 587, 143, 993, 110, 995, 4190 by default), and on each
// open one the check its role calls for — smtp check and the TLS scan for
// SMTP, imap/pop3 audit (with its TLS scan) for the mailbox ports, a
// ManageSieve check (RFC 5804) for 4190 — merged into one report with
// the exposure findings a security review asks for: a plaintext mailbox
// port, submission without TLS, POP3 enabled, ManageSieve offering
// passwords in the clear.
//
// The engines are the ones the per-port commands run (smtpprobe,
// imapaudit, tlsprobe), never copies: the audit of a port and the port's
// own command agree because they are the same code.
package audit

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailprobe/mailprobe/pkg/imapaudit"
	"github.com/mailprobe/mailprobe/pkg/mailversion"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
	"github.com/mailprobe/mailprobe/pkg/tlsprobe"
	"github.com/mailprobe/mailprobe/pkg/transcript"
)

// Options of an audit. Zero values are usable defaults.
type Options struct {
	Host string
	// Services are the ports to probe and what each should speak;
	// default DefaultServices().
	Services []Service
	// Parallel bounds the ports checked at once (default 2): each port's
	// check opens connections of its own (the TLS scan up to
	// ScanParallel), and mail servers limit connections per client.
	Parallel int
	// ProbeParallel bounds the connection attempts of the port probe
	// (default 8: one per default port).
	ProbeParallel int
	// ScanParallel bounds each port's TLS scan (default 2).
	ScanParallel int

	ServerName string         // SNI and the certificate name; default Host
	RootCAs    *x509.CertPool // nil = system roots
	Insecure   bool
	Helo       string

	// User and Password, when set, test a real login over TLS on the
	// submission and mailbox ports.
	User, Password string
	// DefaultCredentials (--default-credentials, from
	// DefaultCredentials()) are tried over TLS on one mailbox port,
	// stopping at the first sign of rate limiting.
	DefaultCredentials []imapaudit.Credential
	// NoTLSScan skips the TLS enumeration of every port.
	NoTLSScan bool
	// NoVulns skips the TLS vulnerability checks.
	NoVulns bool

	// Resolver, when set, checks the reverse DNS of the SMTP server.
	Resolver resolver.Interface
	Dial     netx.DialFunc
	LookupIP netx.LookupFunc
	Timeouts netx.Timeouts
	Now      func() time.Time
	// Progress, when set, is told what the audit is doing ("probing
	// ports", "smtp:25 ehlo"); called from several goroutines.
	Progress func(stage string)
}

// PortResult is one row of the port table (JSON: facts.ports).
type PortResult struct {
	Service
	State PortState `json:"state"`
	// Waited is how long the connection attempt took (ms in JSON).
	Waited time.Duration `json:"-"`
	// TLS is how the port offers TLS: implicit, starttls, starttls-optional
	// (offered, not required before login), none, or unknown.
	TLS string `json:"tls,omitempty"`
	// AuthBeforeTLS is yes when the port takes a password before TLS, no
	// when it refuses, unknown when the check could not tell.
	AuthBeforeTLS string `json:"auth_before_tls,omitempty"`
	// Versions are the TLS versions the scan found accepted.
	Versions []string `json:"tls_versions,omitempty"`
	// Grade is the worst severity of the port's findings (pass, info,
	// warn, fail) or "incomplete".
	Grade string `json:"grade,omitempty"`
	// Software is the product (and version) the port's greetings name,
	// when they do; Version is the whole assessment, with the known
	// vulnerabilities of that version (pkg/mailversion).
	Software string                  `json:"software,omitempty"`
	Version  *mailversion.Assessment `json:"version,omitempty"`
	// Stages are the port check's own stages, as its command reports them.
	Stages []report.Stage `json:"stages,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// The audit's own stage.
const stagePorts = "ports"

// DefaultParallel is the default number of ports checked at once.
const DefaultParallel = 2

// Audit probes the host's mail ports and checks every open one. The
// error is non-nil only for mailprobe's own failures (bad options);
// everything about the server is in the report, whose Facts["ports"] is
// the port table ([]PortResult).
func Audit(ctx context.Context, o Options) (*report.Report, error) {
	if o.Host == "" {
		return nil, errors.New("no host given")
	}
	if len(o.Services) == 0 {
		o.Services = DefaultServices()
	}
	seen := map[int]bool{}
	for _, s := range o.Services {
		if seen[s.Port] {
			return nil, fmt.Errorf("port %d given twice", s.Port)
		}
		seen[s.Port] = true
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.ProbeParallel <= 0 {
		o.ProbeParallel = 8
	}
	if o.ScanParallel <= 0 {
		o.ScanParallel = 2
	}
	if o.ServerName == "" {
		o.ServerName = strings.TrimSuffix(strings.Trim(o.Host, "[]"), ".")
	}
	if o.Dial == nil {
		o.Dial = netx.ResolvingDialer(nil, o.LookupIP)
	}
	progress := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	started := o.Now()
	rep := report.NewReport("audit", o.Host, started)

	// 1. Which ports answer.
	progress("probing ports")
	probeStart := o.Now()
	probes := probePorts(ctx, &o, o.Services)
	rows := make([]PortResult, len(o.Services))
	var open, closed, filtered, failed []string
	for i, s := range o.Services {
		rows[i] = PortResult{Service: s, State: probes[i].state, Waited: probes[i].waited}
		if probes[i].err != nil && probes[i].state != StateClosed {
			rows[i].Error = netx.Describe(probes[i].err, probes[i].waited)
		}
		switch probes[i].state {
		case StateOpen:
			open = append(open, s.Label())
		case StateClosed:
			closed = append(closed, s.Label())
		case StateFiltered:
			filtered = append(filtered, s.Label())
		default:
			failed = append(failed, s.Label())
		}
	}
	summary := portSummary(open, closed, filtered, failed)
	status := report.StatusOK
	if len(open) == 0 && len(closed) == 0 {
		// Nothing answered at all: the host is down, unresolvable or
		// behind a firewall; no verdict on the server is possible.
		status = report.StatusError
	}
	rep.AddStage(report.Stage{Name: stagePorts, Status: status, Start: probeStart.Sub(started), Duration: o.Now().Sub(probeStart), Summary: summary})
	for i, r := range rows {
		switch r.State {
		case StateFiltered:
			rep.Add(report.Newf(CodePortFiltered, stagePorts, "%s: no answer to a connection attempt within %s.", r.Label(), r.Waited.Round(time.Millisecond)))
		case StateError:
			rep.Add(report.Newf(CodePortError, stagePorts, "%s: %s.", r.Label(), rows[i].Error))
		}
	}
	if len(open) == 0 {
		if len(closed) > 0 {
			what := fmt.Sprintf("None of the %d mail ports probed accepts connections", len(o.Services))
			if len(o.Services) == 1 {
				what = "The one mail port probed does not accept connections"
			}
			rep.Add(report.Newf(CodeNoneOpen, stagePorts, "%s (%s).", what, summary))
		}
		return finish(rep, rows, o), nil
	}

	// 2. The check each open port's role calls for, a few at a time.
	subs := make([]*report.Report, len(rows))
	errs := make([]error, len(rows))
	credPort := 0
	if len(o.DefaultCredentials) > 0 {
		if credPort = credentialPort(rows); credPort == 0 {
			rep.AddStage(report.Stage{Name: "default-credentials", Status: report.StatusSkipped, Summary: "no open IMAP or POP3 port to try them on"})
		}
	}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i := range rows {
		if rows[i].State != StateOpen {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			subs[i], errs[i] = checkPort(ctx, &o, rows[i].Service, rows[i].Port == credPort, progress)
		}()
	}
	wg.Wait()

	// 3. One report, merged in port order whatever order the checks
	// finished in.
	var entries []transcript.Entry
	for i := range rows {
		r := &rows[i]
		if r.State != StateOpen {
			continue
		}
		label := r.Label()
		sub, err := subs[i], errs[i]
		if err != nil || sub == nil {
			msg := "not checked"
			if err != nil {
				msg = err.Error()
			}
			r.Error, r.Grade = msg, "incomplete"
			st := report.StatusError
			if errors.Is(err, context.Canceled) {
				st = report.StatusInterrupted
			}
			rep.AddStage(report.Stage{Name: label, Status: st, Summary: msg})
			continue
		}
		offset := len(entries)
		own := renumber(sub.Transcript, offset)
		entries = append(entries, own...)
		describe(r, sub)
		for _, st := range sub.Stages {
			st.Seq = shiftSeq(st.Seq, offset)
			r.Stages = append(r.Stages, st)
		}
		var versionFindings []report.Finding
		r.Version, versionFindings = assessVersion(r, own)
		if name := softwareName(r.Version); name != "" {
			r.Software = name
		}
		rep.AddStage(portStage(r, sub, started))
		for _, f := range sub.Findings {
			f.Stage = label + "/" + subStage(f.Stage, r.Port)
			for k := range f.Evidence {
				f.Evidence[k].Seq = shiftSeq(f.Evidence[k].Seq, offset)
			}
			rep.Add(f)
		}
		rep.Add(exposure(r, sub)...)
		rep.Add(versionFindings...)
	}
	if len(entries) > transcript.MaxEntries {
		entries = entries[:transcript.MaxEntries]
	}
	rep.Transcript = entries
	return finish(rep, rows, o), nil
}

// finish sorts the findings (worst first, then port order: report's
// SortFindings ranks "imap:143/capability" with its port's stage) and
// sets the facts and duration.
func finish(rep *report.Report, rows []PortResult, o Options) *report.Report {
	rep.SortFindings()
	rep.SetFact("ports", rows)
	rep.Duration = o.Now().Sub(rep.StartedAt)
	return rep
}

func portSummary(open, closed, filtered, failed []string) string {
	var parts []string
	for _, p := range []struct {
		name  string
		ports []string
	}{{"open", open}, {"closed", closed}, {"filtered", filtered}, {"failed", failed}} {
		if len(p.ports) > 0 {
			parts = append(parts, p.name+" "+strings.Join(p.ports, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// subStage names a port check's stage inside the audit: imap audit's
// "greeting:143" is "greeting" under the port's own label.
func subStage(stage string, port int) string {
	return strings.TrimSuffix(stage, fmt.Sprintf(":%d", port))
}

func renumber(es []transcript.Entry, offset int) []transcript.Entry {
	out := make([]transcript.Entry, len(es))
	for i, e := range es {
		e.Seq += offset
		out[i] = e
	}
	return out
}

func shiftSeq(seq []int, offset int) []int {
	if len(seq) == 0 || offset == 0 {
		return seq
	}
	out := make([]int, len(seq))
	for i, s := range seq {
		out[i] = s + offset
	}
	return out
}

// portStage is the port's line in the audit's stage list: its row of
// the port table as a summary, its status from the check.
func portStage(r *PortResult, sub *report.Report, started time.Time) report.Stage {
	status := report.StatusOK
	switch {
	case sub.Interrupted:
		status = report.StatusInterrupted
	case sub.Incomplete:
		status = report.StatusError
	case sub.Worst() >= report.Fail:
		status = report.StatusFail
	}
	parts := []string{string(r.Proto)}
	if t, ok := tlsWords[r.TLS]; ok {
		parts = append(parts, t)
	}
	if len(r.Versions) > 0 {
		parts = append(parts, versionRange(r.Versions))
	}
	if r.AuthBeforeTLS != "" {
		parts = append(parts, "password before TLS: "+r.AuthBeforeTLS)
	}
	if r.Software != "" {
		parts = append(parts, r.Software)
	}
	parts = append(parts, "worst: "+r.Grade)
	return report.Stage{Name: r.Label(), Status: status, Start: sub.StartedAt.Sub(started), Duration: sub.Duration, Summary: strings.Join(parts, " · ")}
}

// tlsWords are the port table's TLS column in the stage summary.
var tlsWords = map[string]string{
	"implicit": "implicit TLS", "starttls": "STARTTLS", "starttls-optional": "STARTTLS, not required",
	"none": "no TLS", "unknown": "TLS unknown",
}

func versionRange(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	return vs[0] + " – " + vs[len(vs)-1]
}

// describe fills the port's row from its check's report.
func describe(r *PortResult, sub *report.Report) {
	switch {
	case sub.Incomplete:
		r.Grade = "incomplete"
	default:
		r.Grade = sub.Worst().String()
	}
	has := func(codes ...string) bool {
		return slices.ContainsFunc(codes, sub.Has)
	}
	p := string(r.Proto)
	switch {
	case r.Implicit || has(p+".tls.implicit-detected", "smtp.tls.implicit", "smtp.tls.implicit-detected"):
		r.TLS = "implicit"
	case has(p + ".starttls.missing"):
		r.TLS = "none"
	case has(p+".starttls.ok", "smtp.starttls.ok"):
		r.TLS = "starttls"
	default:
		r.TLS = "unknown"
	}
	switch r.Proto {
	case netx.ProtoSMTP:
		switch {
		case has("smtp.auth.before-tls", "smtp.auth.plaintext"):
			r.AuthBeforeTLS = "yes"
		case r.TLS == "starttls" || r.TLS == "implicit":
			r.AuthBeforeTLS = "no"
		}
	case netx.ProtoIMAP, netx.ProtoPOP3:
		switch {
		case r.TLS == "implicit":
			r.AuthBeforeTLS = "no"
		case has(p+".auth.plaintext", p+".logindisabled.missing"):
			r.AuthBeforeTLS = "yes"
			if r.TLS == "starttls" {
				r.TLS = "starttls-optional"
			}
		case has(p+".plaintext-login.refused") || r.TLS == "starttls":
			r.AuthBeforeTLS = "no"
		}
	case netx.ProtoSieve:
		switch {
		case has(CodeSieveAuthPlaintext):
			r.AuthBeforeTLS = "yes"
			if r.TLS == "starttls" {
				r.TLS = "starttls-optional"
			}
		case r.TLS == "starttls":
			r.AuthBeforeTLS = "no"
		}
	}
	if r.AuthBeforeTLS == "" {
		r.AuthBeforeTLS = "unknown"
	}
	r.Versions = acceptedVersions(sub)
	for _, code := range []string{"smtp.banner.version", "smtp.banner.software", p + ".banner.version", p + ".banner.software", "imap.id.version", CodeSieveImplementation} {
		if f, ok := sub.Find(code); ok {
			r.Software = softwareOf(f)
			break
		}
	}
}

// softwareOf is the disclosed name from a banner finding: its first
// evidence (the greeting) when there is one, else its detail, clipped.
func softwareOf(f report.Finding) string {
	s := f.Detail
	for _, e := range f.Evidence {
		if e.Text != "" {
			s = e.Text
			break
		}
	}
	return report.Clip(s, 80)
}

// acceptedVersions reads the TLS scan's result from the port's report:
// smtp's merged scan (facts.tls) or imap audit's (facts["tls:PORT"]).
func acceptedVersions(sub *report.Report) []string {
	var out []string
	for k, v := range sub.Facts {
		if k != "tls" && !strings.HasPrefix(k, "tls:") {
			continue
		}
		res, ok := v.(*tlsprobe.Result)
		if !ok || res == nil {
			continue
		}
		for _, vr := range res.Versions {
			if vr.Supported {
				out = append(out, vr.Version)
			}
		}
	}
	return out
}

// checkPort runs the check of one open port: the engine its protocol
// calls for, and for SMTP the TLS scan beside it (imap audit runs its
// own).
func checkPort(ctx context.Context, o *Options, s Service, tryDefaults bool, progress func(string)) (*report.Report, error) {
	label := s.Label()
	stageProgress := func(st string) { progress(label + " " + subStage(st, s.Port)) }
	mode := netx.TLSStartTLS
	if s.Implicit {
		mode = netx.TLSImplicit
	}
	switch s.Proto {
	case netx.ProtoSMTP:
		return checkSMTP(ctx, o, s, mode, stageProgress)
	case netx.ProtoIMAP, netx.ProtoPOP3:
		proto := imapaudit.IMAP
		if s.Proto == netx.ProtoPOP3 {
			proto = imapaudit.POP3
		}
		io := imapaudit.Options{Protocol: proto, Host: o.Host, Ports: []int{s.Port}, TLSMode: mode,
			ServerName: o.ServerName, RootCAs: o.RootCAs, Insecure: o.Insecure,
			User: o.User, Password: o.Password, NoTLSScan: o.NoTLSScan,
			Progress: stageProgress, Dial: o.Dial, Timeouts: o.Timeouts, Now: o.Now}
		if s.Implicit {
			io.ImplicitTLS = []int{s.Port}
		}
		if tryDefaults {
			io.DefaultCredentials = o.DefaultCredentials
		}
		return imapaudit.Audit(ctx, io)
	case netx.ProtoSieve:
		return checkSieve(ctx, o, s, stageProgress)
	}
	return nil, fmt.Errorf("%s: no check for protocol %q", label, s.Proto)
}

func checkSMTP(ctx context.Context, o *Options, s Service, mode netx.TLSMode, progress func(string)) (*report.Report, error) {
	role := smtpprobe.RoleMX
	switch {
	case s.Role == netx.RoleSubmission && s.Implicit:
		role = smtpprobe.RoleSubmissions
	case s.Role == netx.RoleSubmission:
		role = smtpprobe.RoleSubmission
	}
	so := smtpprobe.Options{Host: o.Host, Port: s.Port, Role: role, TLSMode: mode, ImplicitTLS: s.Implicit,
		ServerName: o.ServerName, RootCAs: o.RootCAs, Insecure: o.Insecure, Helo: o.Helo,
		Resolver: o.Resolver, Progress: progress, Dial: o.Dial, LookupIP: o.LookupIP, Timeouts: o.Timeouts, Now: o.Now}
	if role != smtpprobe.RoleMX {
		// A password is for submission; an MX takes mail unauthenticated.
		so.User, so.Password = o.User, o.Password
	}
	// The TLS scan runs beside the protocol check, as imap audit's does.
	var scan *report.Report
	var scanErr error
	var wg sync.WaitGroup
	if !o.NoTLSScan {
		proto := tlsprobe.ProtoSMTP
		if s.Implicit {
			proto = tlsprobe.ProtoNone
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			scan, scanErr = tlsprobe.Scan(ctx, tlsprobe.Options{Host: o.Host, Port: s.Port, StartTLS: proto, Role: s.Role,
				ServerName: o.ServerName, RootCAs: o.RootCAs, Insecure: o.Insecure, Helo: o.Helo, NoVulns: o.NoVulns,
				Parallel: o.ScanParallel, Dial: o.Dial, Timeouts: o.Timeouts, Now: o.Now})
		}()
	}
	rep, err := smtpprobe.Check(ctx, so)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	switch {
	case o.NoTLSScan:
	case scanErr != nil:
		rep.AddStage(report.Stage{Name: "tls", Status: report.StatusSkipped, Summary: scanErr.Error()})
	case scan != nil:
		tlsprobe.Merge(rep, scan, "tls")
	}
	return rep, nil
}
