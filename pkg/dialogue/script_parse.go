package dialogue

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// ParseScript parses a script. file names it in error messages. The error,
// when not nil, is ScriptErrors: every problem found, each with its line.
//
// The parser is line-oriented and single-pass: a line is a step, a block
// opener, else or end; data and body consume the lines of their message.
// It keeps going after an error so that a user fixes a script in one
// round, up to maxErrors problems. Nothing here depends on variables'
// values: those are checked by Bind, once the command line is known.
func ParseScript(file string, src []byte) (*Script, error) {
	if len(src) > MaxScriptBytes {
		return nil, ScriptErrors{{File: file, Line: 1, Msg: fmt.Sprintf("the script is larger than %d bytes", MaxScriptBytes)}}
	}
	p := &parser{file: file, lines: strings.Split(string(src), "\n"), sc: &Script{File: file}}
	p.parse()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.sc, nil
}

type parser struct {
	file  string
	lines []string
	sc    *Script
	errs  ScriptErrors
	stack []*frame
}

// frame is an open block.
type frame struct {
	step   *Step
	inElse bool
	iters  int // product of the repeat counts of this and enclosing blocks
}

func (p *parser) errorf(line int, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &SyntaxError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
}

func (p *parser) full() bool { return len(p.errs) >= maxErrors }

// add appends s where it belongs: the innermost open block, or the top level.
func (p *parser) add(s *Step) {
	if len(p.stack) == 0 {
		p.sc.Steps = append(p.sc.Steps, s)
		return
	}
	f := p.stack[len(p.stack)-1]
	if f.inElse {
		f.step.Otherwise = append(f.step.Otherwise, s)
	} else {
		f.step.Then = append(f.step.Then, s)
	}
}

func (p *parser) iters() int {
	if len(p.stack) == 0 {
		return 1
	}
	return p.stack[len(p.stack)-1].iters
}

func (p *parser) inPipeline() bool {
	return len(p.stack) > 0 && p.stack[len(p.stack)-1].step.Kind == KindPipeline
}

// parse reads every line. Open blocks are a stack of frames; a step goes
// into the innermost one (its then or else branch) or the top level.
func (p *parser) parse() {
	for i := 0; i < len(p.lines) && !p.full(); i++ {
		raw := strings.TrimSuffix(p.lines[i], "\r")
		line := strings.TrimLeft(raw, " \t")
		if strings.TrimSpace(line) == "" || line[0] == '#' {
			continue
		}
		n := i + 1
		word, rest := cutWord(line)
		kw := strings.ToLower(word)
		rest = strings.TrimSpace(rest)
		s := &Step{Line: n, Kind: kw, Source: strings.TrimRight(line, " \t")}

		if p.inPipeline() && kw != KindSend && kw != KindSendRaw && kw != KindExpect && kw != "end" && kw != KindData && kw != KindBody {
			p.errorf(n, "only send, sendraw and expect lines may be inside a pipeline block (opened on line %d)", p.stack[len(p.stack)-1].step.Line)
			continue
		}
		switch kw {
		case "end":
			if rest != "" {
				p.errorf(n, "end takes no arguments")
			}
			p.end(n)
			continue
		case "else":
			if rest != "" {
				p.errorf(n, "a block's else stands alone on its line (the else LEVEL of a step goes at the end of that step's line)")
			}
			f := p.top()
			switch {
			case f == nil || (f.step.Kind != KindIfCap && f.step.Kind != KindIfReply):
				p.errorf(n, "else outside an if-capability or if-reply block")
			case f.inElse:
				p.errorf(n, "second else in the block opened on line %d", f.step.Line)
			default:
				f.inElse = true
			}
			continue
		case KindDefault:
			p.parseVar(s, rest)
			continue
		case KindData, KindBody:
			i = p.parseHeredoc(s, raw, rest, i)
			continue
		}
		if err := p.parseStep(s, word, rest); err != nil {
			p.errorf(n, "%s", err)
			continue
		}
		p.add(s)
		switch s.Kind {
		case KindIfCap, KindIfReply, KindRepeat, KindPipeline:
			if len(p.stack) >= MaxNesting {
				p.errorf(n, "blocks nested deeper than %d", MaxNesting)
			}
			iters := p.iters()
			if s.Kind == KindRepeat {
				iters *= s.Count
				if iters > MaxIterations {
					p.errorf(n, "nested repeat blocks would run their steps %d times; the limit is %d", iters, MaxIterations)
					iters = MaxIterations
				}
			}
			p.stack = append(p.stack, &frame{step: s, iters: iters})
		}
	}
	for j := len(p.stack) - 1; j >= 0; j-- {
		f := p.stack[j]
		p.errorf(f.step.Line, "%s block is not closed: add a line with end", f.step.Kind)
	}
	if len(p.sc.Steps) == 0 && len(p.errs) == 0 && len(p.sc.Vars) == 0 {
		p.errorf(1, "the script has no steps")
	}
	p.checkConnectFirst()
}

func (p *parser) top() *frame {
	if len(p.stack) == 0 {
		return nil
	}
	return p.stack[len(p.stack)-1]
}

func (p *parser) end(n int) {
	f := p.top()
	if f == nil {
		p.errorf(n, "end without an open block")
		return
	}
	p.stack = p.stack[:len(p.stack)-1]
	f.step.EndLine = n
	switch f.step.Kind {
	case KindPipeline:
		sends := 0
		for _, s := range f.step.Then {
			if s.Kind == KindSend || s.Kind == KindSendRaw {
				sends++
			}
		}
		if sends == 0 {
			p.errorf(f.step.Line, "the pipeline block has no send line")
		}
	case KindRepeat:
		if len(f.step.Then) == 0 {
			p.errorf(f.step.Line, "the repeat block is empty")
		}
	}
}

// checkConnectFirst refuses steps that talk to the server before any
// connect line. Blocks are read in file order, whichever branch runs:
// a connect inside an if-capability block counts for what follows it.
func (p *parser) checkConnectFirst() {
	connected := false
	p.sc.Walk(func(s *Step) {
		if s.Kind == KindConnect {
			connected = true
		}
		if !connected && s.needsConnection() {
			p.errorf(s.Line, "%s before connect: a script starts its dialogue with a connect line", s.Kind)
			connected = true // one error is enough
		}
	})
}

func (p *parser) parseVar(s *Step, rest string) {
	if len(p.stack) > 0 {
		p.errorf(s.Line, "%s is only allowed outside blocks: variables are set before the script runs", s.Kind)
		return
	}
	name, value := cutWord(rest)
	if !validVarName(name) {
		p.errorf(s.Line, "%s NAME VALUE: %q is not a variable name (letters, digits and _, not starting with a digit)", s.Kind, name)
		return
	}
	s.Name, s.Text = name, strings.TrimSpace(value)
	if err := checkTemplate(s.Text, false); err != nil {
		p.errorf(s.Line, "%v", err)
		return
	}
	p.sc.Vars = append(p.sc.Vars, s)
}

// parseHeredoc reads a data or body step and the message lines after it,
// up to the terminator line. It returns the index of the last line used.
//
// Body lines keep their text exactly, except that the indentation of the
// data line itself is removed from each, so that a data step inside an
// indented block can have its body indented with it.
func (p *parser) parseHeredoc(s *Step, raw, rest string, i int) int {
	indent := raw[:len(raw)-len(strings.TrimLeft(raw, " \t"))]
	s.Terminator = "."
	if strings.HasPrefix(rest, "<<") {
		word, tail := cutWord(rest[2:])
		if word == "" {
			p.errorf(s.Line, "%s <<WORD needs a word, as in %s <<EOF", s.Kind, s.Kind)
		} else {
			s.Terminator = word
		}
		rest = strings.TrimSpace(tail)
	}
	if p.inPipeline() {
		p.errorf(s.Line, "%s cannot be inside a pipeline block: end the pipeline after DATA's expect, then use body", s.Kind)
	}
	if s.Kind == KindData {
		s.Expect = expectCode("250")
		if err := p.parseTail(s, rest); err != nil {
			p.errorf(s.Line, "%v", err)
		}
	} else if rest != "" {
		p.errorf(s.Line, "body takes no arguments besides <<WORD: the reply is read by the expect line after it")
	}
	j := i + 1
	for ; j < len(p.lines); j++ {
		l := strings.TrimSuffix(p.lines[j], "\r")
		if strings.TrimSpace(l) == s.Terminator {
			break
		}
		l = strings.TrimPrefix(l, indent)
		if err := checkTemplate(l, false); err != nil {
			p.errorf(j+1, "%v", err)
		}
		s.Body = append(s.Body, l)
	}
	if j >= len(p.lines) {
		p.errorf(s.Line, "the %s body is not terminated: end it with a line holding only %q", s.Kind, s.Terminator)
		return j
	}
	p.add(s)
	return j
}

// parseStep reads the arguments of a one-line step or a block opener.
// Compound steps (ehlo, starttls, auth, data, quit) get their built-in
// expectation here, from the RFCs: 250 to EHLO, 220 to STARTTLS (RFC 3207
// §4), 235 to AUTH (RFC 4954 §6), 250 after the message, 221 to QUIT.
func (p *parser) parseStep(s *Step, word, rest string) error {
	switch s.Kind {
	case KindConnect:
		w, tail := cutWord(rest)
		if strings.EqualFold(w, "tls") {
			s.TLS = true
			rest = strings.TrimSpace(tail)
		}
		if strings.ContainsAny(rest, " \t") {
			return fmt.Errorf("connect [tls] [HOST:PORT]: too many arguments")
		}
		s.Text = rest
		return checkTemplate(rest, false)

	case KindExpect:
		toks, err := tokenize(rest)
		if err != nil {
			return err
		}
		if len(toks) == 0 || toks[0].kind != 'w' || toks[0].s == "else" {
			return fmt.Errorf("expect needs a reply code: expect 250, expect 2xx, expect 5xx enhanced 5.7.1 /relay/i")
		}
		s.Expect = &Expectation{}
		if err := parseOutcomeSpec(toks[0].s, s.Expect); err != nil {
			return err
		}
		return p.parseModifiers(s, toks[1:], true)

	case KindExpectClose:
		s.Expect = &Expectation{Close: true}
		return p.parseTail(s, rest)

	case KindSend, KindSendRaw:
		if s.Kind == KindSendRaw && rest == "" {
			return fmt.Errorf("sendraw needs something to send (it adds no line ending: write \\r\\n where you want one)")
		}
		s.Text = rest
		return checkTemplate(rest, true)

	case KindEHLO:
		s.Expect = expectCode("250")
		toks, err := tokenize(rest)
		if err != nil {
			return err
		}
		if len(toks) > 0 && toks[0].kind == 'w' && toks[0].s != "else" {
			s.Text = toks[0].s
			toks = toks[1:]
		}
		if err := checkTemplate(s.Text, false); err != nil {
			return err
		}
		return p.parseModifiers(s, toks, false)

	case KindSTARTTLS:
		s.Expect = expectCode("220")
		return p.parseTail(s, rest)

	case KindAuth:
		s.Expect = expectCode("235")
		toks, err := tokenize(rest)
		if err != nil {
			return err
		}
		if len(toks) == 0 || toks[0].kind != 'w' {
			return fmt.Errorf("auth needs a mechanism: auth PLAIN, auth LOGIN, auth CRAM-MD5 or auth XOAUTH2")
		}
		s.Name = strings.ToUpper(toks[0].s)
		switch s.Name {
		case "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2":
		default:
			return fmt.Errorf("unknown AUTH mechanism %q (PLAIN, LOGIN, CRAM-MD5 or XOAUTH2); to send other AUTH lines, use send and expect", toks[0].s)
		}
		toks = toks[1:]
		if len(toks) > 0 && toks[0].kind == 'w' && strings.EqualFold(toks[0].s, "as") {
			if len(toks) < 2 || toks[1].kind == 'r' {
				return fmt.Errorf("auth %s as USER: the user name is missing", s.Name)
			}
			s.Text = toks[1].s
			toks = toks[2:]
			if err := checkTemplate(s.Text, false); err != nil {
				return err
			}
		}
		return p.parseModifiers(s, toks, false)

	case KindPause, KindTimeout:
		if rest == "" || strings.ContainsAny(rest, " \t") {
			return fmt.Errorf("%s DURATION: one duration such as 500ms, 2s or 1m", s.Kind)
		}
		s.Text = rest
		if err := checkTemplate(rest, false); err != nil {
			return err
		}
		if !strings.Contains(rest, "$") {
			_, err := parseStepDuration(s.Kind, rest)
			return err
		}
		return nil

	case KindQuit:
		s.Expect = &Expectation{Codes: []string{"221"}, Close: true}
		if err := p.parseTail(s, rest); err != nil {
			return err
		}
		if s.Else == nil {
			// A QUIT that is not answered cleanly is harmless for
			// delivery (RFC 5321 §4.1.1.10 asks for 221, but the message
			// is already queued): the script goes on and notes it.
			info := report.Info
			s.Else = &info
		}
		return nil

	case KindClose, KindPipeline:
		if rest != "" {
			return fmt.Errorf("%s takes no arguments", s.Kind)
		}
		return nil

	case KindNote:
		if rest == "" {
			return fmt.Errorf("note needs a text")
		}
		s.Text = rest
		return checkTemplate(rest, false)

	case KindRequireCap, KindIfCap:
		toks, err := tokenize(rest)
		if err != nil {
			return err
		}
		if len(toks) > 0 && toks[0].kind == 'w' && toks[0].s == "!" {
			s.Negate = true
			toks = toks[1:]
		}
		if len(toks) == 0 || toks[0].kind != 'w' {
			return fmt.Errorf("%s needs an EHLO keyword, such as STARTTLS or AUTH PLAIN", s.Kind)
		}
		kw := toks[0].s
		if strings.HasPrefix(kw, "!") {
			s.Negate, kw = true, kw[1:]
		}
		if !validKeyword(kw) {
			return fmt.Errorf("%q is not an EHLO keyword (letters, digits and hyphens, RFC 5321 §4.1.1.1)", kw)
		}
		s.Name = strings.ToUpper(kw)
		toks = toks[1:]
		if len(toks) > 0 && toks[0].kind == 'w' && toks[0].s != "else" {
			s.Param = toks[0].s
			toks = toks[1:]
		}
		if s.Kind == KindIfCap {
			if len(toks) > 0 {
				return fmt.Errorf("if-capability [!]KEYWORD [PARAMETER]: too many arguments")
			}
			return nil
		}
		return p.parseModifiers(s, toks, false)

	case KindIfReply:
		toks, err := tokenize(rest)
		if err != nil {
			return err
		}
		if len(toks) > 0 && toks[0].kind == 'w' && strings.HasPrefix(toks[0].s, "!") {
			s.Negate = true
			toks[0].s = toks[0].s[1:]
			if toks[0].s == "" {
				toks = toks[1:]
			}
		}
		if len(toks) == 0 || toks[0].kind != 'w' {
			return fmt.Errorf("if-reply needs a reply code, as expect does: if-reply 334, if-reply !2xx, if-reply none|close")
		}
		s.Expect = &Expectation{}
		if err := parseOutcomeSpec(toks[0].s, s.Expect); err != nil {
			return err
		}
		if err := p.parseModifiers(s, toks[1:], true); err != nil {
			return err
		}
		if s.Else != nil || s.Message != "" {
			return fmt.Errorf("if-reply is a condition: it takes no else LEVEL or message")
		}
		return nil

	case KindRepeat:
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > MaxRepeat {
			return fmt.Errorf("repeat N: N must be a whole number from 1 to %d", MaxRepeat)
		}
		s.Count = n
		return nil
	}
	if looksLikeSMTP(s.Kind) {
		return fmt.Errorf("unknown step %q: to send an SMTP command, write send %s", word, s.Source)
	}
	return fmt.Errorf("unknown step %q (see docs/script-language.md)", word)
}

// parseTail reads what may follow a compound step: [else LEVEL] ["message"].
func (p *parser) parseTail(s *Step, rest string) error {
	toks, err := tokenize(rest)
	if err != nil {
		return err
	}
	return p.parseModifiers(s, toks, false)
}

// parseModifiers reads enhanced CODE and /regex/ (when patterns is true),
// then else LEVEL and a final quoted message.
func (p *parser) parseModifiers(s *Step, toks []token, patterns bool) error {
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case patterns && t.kind == 'w' && strings.EqualFold(t.s, "enhanced"):
			if i+1 >= len(toks) || toks[i+1].kind != 'w' {
				return fmt.Errorf("enhanced needs a status code such as 5.7.1 or 5.7.x")
			}
			if s.Expect.Enhanced != "" {
				return fmt.Errorf("enhanced given twice")
			}
			enh, err := parseEnhancedPattern(toks[i+1].s)
			if err != nil {
				return err
			}
			s.Expect.Enhanced = enh
			i++
		case patterns && t.kind == 'r':
			if s.Expect.Regex != nil {
				return fmt.Errorf("only one /regular expression/ per expectation")
			}
			re, err := parseRegex(t.s)
			if err != nil {
				return err
			}
			s.Expect.Regex, s.Expect.RegexSrc = re, t.s
		case t.kind == 'w' && t.s == "else":
			if i+1 >= len(toks) || toks[i+1].kind != 'w' {
				return fmt.Errorf("else needs a level: fail, warn or info")
			}
			var sev report.Severity
			switch strings.ToLower(toks[i+1].s) {
			case "fail":
				sev = report.Fail
			case "warn":
				sev = report.Warn
			case "info":
				sev = report.Info
			default:
				return fmt.Errorf("else %s: the level is fail, warn or info", toks[i+1].s)
			}
			s.Else = &sev
			i++
		case t.kind == 'q':
			if i != len(toks)-1 {
				return fmt.Errorf("the quoted message must come last on the line")
			}
			s.Message = t.s
		case t.kind == 'r':
			return fmt.Errorf("%s takes no /regular expression/ (use expect to check a reply's text)", s.Kind)
		default:
			if patterns {
				return fmt.Errorf("unexpected %q: after the reply code come enhanced X.Y.Z, /regex/, else LEVEL and a \"message\"; alternatives are joined with | and no spaces (250|251)", t.s)
			}
			return fmt.Errorf("unexpected %q: %s takes only else LEVEL and a \"message\" here", t.s, s.Kind)
		}
	}
	return nil
}

// token is one argument: a word, a /regex/flags or a "quoted message".
type token struct {
	s    string
	kind byte // 'w', 'r' or 'q'
}

// tokenize splits arguments at blanks; /.../ and "..." may contain blanks,
// with \/ and \" (and \\ in quotes) as escapes.
func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '/':
			j := i + 1
			for j < len(s) && s[j] != '/' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("regular expression %q has no closing /", netx.Clip(s[i:]))
			}
			j++
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			out = append(out, token{s[i:j], 'r'})
			i = j
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("message %s has no closing \"", netx.Clip(s[i:]))
			}
			out = append(out, token{b.String(), 'q'})
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			out = append(out, token{s[i:j], 'w'})
			i = j
		}
	}
	return out, nil
}

// cutWord splits s at its first blank.
func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// validKeyword checks an EHLO keyword's syntax (RFC 5321 §4.1.1.1:
// ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")).
func validKeyword(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// looksLikeSMTP recognises an SMTP command written without send.
func looksLikeSMTP(kw string) bool {
	switch strings.ToUpper(kw) {
	case "HELO", "MAIL", "RCPT", "RSET", "VRFY", "EXPN", "NOOP", "HELP", "BDAT", "LHLO", "ETRN", "TURN", "ATRN":
		return true
	}
	return false
}

// parseStepDuration reads a pause or timeout duration within bounds.
func parseStepDuration(kind, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %s: not a duration (write 500ms, 2s, 1m30s)", kind, s)
	}
	switch kind {
	case KindPause:
		if d < 0 || d > MaxPause {
			return 0, fmt.Errorf("pause %s: must be between 0 and %s", s, MaxPause)
		}
	case KindTimeout:
		if d < MinTimeout || d > MaxTimeout {
			return 0, fmt.Errorf("timeout %s: must be between %s and %s", s, MinTimeout, MaxTimeout)
		}
	}
	return d, nil
}
