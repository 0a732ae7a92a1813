package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/render"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/suite"
)

type batchOptions struct {
	FailOn   string
	Input    string
	Parallel int
	Resolver string
	failOn   report.Severity
}

// maxBatchTargets bounds one batch run (a typo like `batch -i /dev/urandom`
// must not run forever).
const maxBatchTargets = 100000

func newBatchCmd(env *Env) *cobra.Command {
	o := &batchOptions{}
	c := &cobra.Command{
		Use:   "batch [-i FILE] -- COMMAND [ARGS...] [{}]",
		Short: "Run one check over many domains or hosts, JSON lines out",
		Long: `Run a check command for every target read from FILE (or stdin): one
target per line, blank lines and # comments skipped. {} in the command is
replaced by the target; without {} the target is added as the last
argument. Each result is printed as one JSON object on its own line, in
input order, as soon as it and those before it are done.

Exit code: 2 if the command line is not valid, else 3 if any check was
incomplete, else 1 if any has a finding at or above --fail-on, else 0.`,
		Example: `  mailprobe batch -i domains.txt -- dns
  cat mx-hosts.txt | mailprobe batch --parallel 8 -- smtp check {}:25 --timeout 20s
  mailprobe batch -i domains.txt -- dmarc {} | jq -c '{target, fail: [.findings[] | select(.severity=="fail") | .code]}'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, env, args) },
	}
	c.Flags().StringVarP(&o.Input, "input", "i", "-", "file of targets, one per line (- for stdin)")
	c.Flags().IntVar(&o.Parallel, "parallel", 4, "checks run at once")
	c.Flags().StringVar(&o.FailOn, "fail-on", "fail", "lowest severity that makes the exit code 1: info, warn or fail")
	completeValues(c, "fail-on", "info", "warn", "fail")
	addLineResolverFlag(c, &o.Resolver)
	return c
}

func (o *batchOptions) run(cmd *cobra.Command, env *Env, command []string) error {
	s, err := report.ParseSeverity(o.FailOn)
	if err != nil || s == report.Pass {
		return usageErrorf("--fail-on must be info, warn or fail, not %q", o.FailOn)
	}
	o.failOn = s
	if o.Parallel < 1 || o.Parallel > 64 {
		return usageErrorf("--parallel must be between 1 and 64")
	}
	if err := checkLineResolver(o.Resolver); err != nil {
		return err
	}
	// The command's secret-bearing values are registered before anything
	// can print them (a misspelt -password=X is quoted by the flag error).
	env.registerLineSecrets("", command, env.IO.Getenv)
	for _, a := range command {
		if a == "--format" || strings.HasPrefix(a, "--format=") {
			return usageErrorf("batch always writes JSON lines; drop --format from the command")
		}
	}
	var in io.Reader = env.IO.In
	if o.Input != "-" {
		f, err := os.Open(o.Input)
		if err != nil {
			return usageErrorf("%v", err)
		}
		defer f.Close()
		in = f
	}
	var targets []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(targets) == maxBatchTargets {
			return usageErrorf("more than %d targets; split the input", maxBatchTargets)
		}
		targets = append(targets, t)
	}
	if err := sc.Err(); err != nil {
		return usageErrorf("reading targets: %v", err)
	}
	argsFor := func(target string) []string {
		var out []string
		found := false
		for _, a := range command {
			if strings.Contains(a, "{}") {
				found = true
				a = strings.ReplaceAll(a, "{}", target)
			}
			out = append(out, a)
		}
		if !found {
			out = append(out, target)
		}
		return withResolver(out, o.Resolver)
	}
	// The command line is validated once, with the first target that can
	// be run.
	for _, t := range targets {
		if badTarget(t) == "" {
			if err := validateLine(env, argsFor(t)); err != nil {
				return usageErrorf("%v", err)
			}
			break
		}
	}

	results := make([]chan *report.Report, len(targets))
	for i := range results {
		results[i] = make(chan *report.Report, 1)
	}
	sem := make(chan struct{}, o.Parallel)
	// The producer runs beside the printer, so results stream out in
	// input order while at most Parallel checks run.
	go func() {
		for i, t := range targets {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				var r *report.Report
				if why := badTarget(t); why != "" {
					r = invalidTarget(env, command, t, why)
				} else {
					r = runLine(cmd.Context(), env, suite.Run{Args: argsFor(t)})
				}
				r.Version = Version
				// The input line is the record's name; command and
				// target are the engine's, as fields of their own.
				r.Name = netx.Clip(t)
				results[i] <- r
			}()
		}
	}()
	done := make([]*report.Report, 0, len(targets))
	// JSON lines go to stdout; the progress line to a terminal's stderr.
	// (Not when stdout is the same terminal: the lines would interleave.)
	var p *progress
	if !env.IO.StdoutTTY {
		p = newProgress(env, render.Text)
	}
	defer p.Done()
	for i := range targets {
		r := <-results[i]
		done = append(done, r)
		p.Set(fmt.Sprintf("mailprobe batch: %d/%d done (%s)", i+1, len(targets), netx.Clip(targets[i])))
		r.SortFindings()
		env.scrubReport(r)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(r)
		if err == nil {
			_, err = env.IO.Out.Write(env.scrub(buf.Bytes()))
		}
		if err != nil {
			return &exitError{code: report.ExitIncomplete, err: fmt.Errorf("writing output: %w", err)}
		}
	}
	if code := report.MergeExit(done, o.failOn); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// badTarget says why a target line cannot be run, or "". A target
// starting with "-" would be parsed as a flag of the command (batch --
// spf {} with a line "--help", or "--resolver=evil"): it is an error for
// that line, reported and not run.
func badTarget(t string) string {
	if strings.HasPrefix(t, "-") {
		return "a target may not start with \"-\": it would be read as a flag"
	}
	return ""
}

// invalidTarget is the report of a target line that was not run.
func invalidTarget(env *Env, command []string, target, why string) *report.Report {
	r := report.NewReport(netx.Clip(strings.Join(command[:min(2, len(command))], " ")), netx.Clip(target), env.Now())
	r.AddStage(report.Stage{Name: "run", Status: report.StatusError, Summary: "not run: " + why})
	r.Add(report.Newf("batch.target.invalid", "run", "%q was not run: %s.", netx.Clip(target), why))
	return r
}

func init() {
	report.Register(report.Code{Code: "batch.target.invalid", Severity: report.Fail, Title: "A batch target line could not be run",
		Fix: "Fix the line in the input: a target is a domain, host or address, and never starts with \"-\"."})
}
