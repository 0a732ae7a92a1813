package render

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/):
// one run, one rule per finding code that produced a result, one result per
// info/warn/fail finding. A mail server has no source file, so a result is
// located logically: the stage of the check, qualified by the target.
// Pass findings are not results: SARIF results are things to look at.

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	toolURI      = "https://github.com/mailprobe/mailprobe"
	findingsDoc  = "https://github.com/mailprobe/mailprobe/blob/main/docs/findings.md"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	ShortDescription     sarifText          `json:"shortDescription"`
	Help                 *sarifText         `json:"help,omitempty"`
	HelpURI              string             `json:"helpUri"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           sarifRuleProps     `json:"properties"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Tags []string `json:"tags"`
}

type sarifResult struct {
	RuleID     string           `json:"ruleId"`
	RuleIndex  int              `json:"ruleIndex"`
	Level      string           `json:"level"`
	Message    sarifText        `json:"message"`
	Locations  []sarifLocation  `json:"locations"`
	Properties sarifResultProps `json:"properties"`
}

type sarifLocation struct {
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

type sarifResultProps struct {
	Command  string            `json:"command,omitempty"`
	Target   string            `json:"target"`
	Stage    string            `json:"stage,omitempty"`
	Severity string            `json:"severity"`
	Evidence []report.Evidence `json:"evidence,omitempty"`
}

// sarifLevel maps severities to SARIF levels (§3.27.10); pass has none.
func sarifLevel(s report.Severity) string {
	switch s {
	case report.Fail:
		return "error"
	case report.Warn:
		return "warning"
	case report.Info:
		return "note"
	}
	return ""
}

func writeSARIF(buf *bytes.Buffer, rs []*report.Report, o Options) error {
	version := o.Version
	// Rules first: one per code, sorted, so that ruleIndex is stable
	// whatever order the engines found things in.
	first := map[string]report.Finding{}
	for _, r := range rs {
		if version == "" {
			version = r.Version
		}
		for _, f := range r.Findings {
			if _, seen := first[f.Code]; !seen && sarifLevel(f.Severity) != "" {
				first[f.Code] = f
			}
		}
	}
	codes := make([]string, 0, len(first))
	for c := range first {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(codes))
	for i, c := range codes {
		index[c] = i
		rules = append(rules, sarifRuleOf(first[c]))
	}

	results := []sarifResult{}
	for _, r := range rs {
		for _, f := range r.Findings { // already worst first
			level := sarifLevel(f.Severity)
			if level == "" {
				continue
			}
			msg := f.Title
			if f.Detail != "" {
				if msg != "" {
					msg += ": "
				}
				msg += f.Detail
			}
			if msg == "" {
				msg = f.Code // SARIF requires a non-empty message
			}
			loc := sarifLogicalLocation{Name: f.Stage, Kind: "module"}
			if loc.Name == "" {
				loc.Name = r.Command
			}
			if r.Target != "" {
				loc.FullyQualifiedName = r.Target + "/" + loc.Name
			}
			results = append(results, sarifResult{
				RuleID:    f.Code,
				RuleIndex: index[f.Code],
				Level:     level,
				Message:   sarifText{msg},
				Locations: []sarifLocation{{LogicalLocations: []sarifLogicalLocation{loc}}},
				Properties: sarifResultProps{
					Command: r.Command, Target: r.Target, Stage: f.Stage,
					Severity: f.Severity.String(), Evidence: f.Evidence,
				},
			})
		}
	}

	doc := sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{
				Name: "mailprobe", Version: version, InformationURI: toolURI, Rules: rules,
			}},
			Results: results,
		}},
	}
	// No HTML escaping: "<redacted>" should read as itself in a viewer
	// that shows the raw file, and SARIF is never embedded in HTML as is.
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// sarifRuleOf describes a code. The registry's wording wins over the
// finding's: a rule is the generic problem, while a finding may carry a
// fix specialised for one server (WithFix).
func sarifRuleOf(f report.Finding) sarifRule {
	title, fix, refs, sev := f.Title, f.Fix, f.Refs, f.Severity
	if c, ok := report.Lookup(f.Code); ok {
		title, fix, refs, sev = c.Title, c.Fix, c.Refs, c.Severity
	}
	if title == "" {
		title = f.Code
	}
	rule := sarifRule{
		ID:                   f.Code,
		ShortDescription:     sarifText{title},
		HelpURI:              findingsDoc,
		DefaultConfiguration: sarifConfiguration{Level: sarifLevel(sev)},
		Properties:           sarifRuleProps{Tags: []string{area(f.Code)}},
	}
	if rule.DefaultConfiguration.Level == "" {
		// A code registered as pass but reported with a raised severity.
		rule.DefaultConfiguration.Level = sarifLevel(f.Severity)
	}
	help := fix
	if len(refs) > 0 {
		if help != "" {
			help += "\n"
		}
		help += "See: " + strings.Join(refs, "; ")
	}
	if help != "" {
		rule.Help = &sarifText{help}
	}
	return rule
}
