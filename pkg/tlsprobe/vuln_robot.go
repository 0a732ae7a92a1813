package tlsprobe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mailprobe/mailprobe/pkg/netx"
)

// ROBOT (Return Of Bleichenbacher's Oracle Threat, CVE-2017-13099 and
// others), testssl.sh's run_robot and the method of the ROBOT authors'
// robot-detect: five connections, each a ClientHello offering only
// static-RSA suites, the server's hello flight, then a
// ClientKeyExchange whose RSA plaintext is, in turn:
//
//  0. correct PKCS #1 v1.5 padding: 00 02 <pad> 00 <version> <46 bytes>
//  1. wrong first two bytes: 41 17 <pad> 00 <version> <46 bytes>
//  2. the 0x00 separator in the wrong place: 00 02 <pad> 11 <46 bytes> 00 11
//  3. no 0x00 separator: 00 02 <pad> 11 11 11 <46 bytes>
//  4. the wrong version: 00 02 <pad> 00 02 02 <46 bytes>
//
// followed by ChangeCipherSpec and a garbage Finished. A server without
// an oracle answers all five the same way (the same alert, or the same
// silence); different answers are an oracle an attacker can use to
// decrypt recorded sessions or sign with the server's key. When the
// first round is uniform, a second round without ChangeCipherSpec and
// Finished is run (some oracles only show then). A difference that
// involves a timeout is confirmed by repeating the round, since a slow
// answer can be load, not an oracle. As testssl.sh: variants 1 to 3
// answered alike but 0 or 4 apart is a weak oracle (the attack needs too
// many queries to be practical); anything else is a strong one.
//
// The connection budget is robotBudget; a connection refused part way
// (a rate limit) makes the check not testable, never "not vulnerable".

const robotBudget = 15

// robotMinWait is the least wait for an answer in the round without
// ChangeCipherSpec (see robot): some fifty times a loopback server's
// answer to the first round; a distant server's wait grows with its
// answers (four times the slowest).
const robotMinWait = 100 * time.Millisecond

// robotSuites are the static-RSA suites offered, AES-GCM and AES-CBC
// (testssl.sh's aes_gcm_cbc_cipherlist), then the rest it offers.
var robotSuites = []uint16{0x009D, 0x009C, 0x003D, 0x0035, 0x003C, 0x002F, 0x000A, 0x0005, 0x0004}

// robotPMS is testssl.sh's fixed 46-byte premaster secret tail.
var robotPMS = []byte{0xaa, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}

// robotPlaintext builds variant n for a k-byte modulus and version v.
func robotPlaintext(n, k int, v uint16) []byte {
	pad := bytes.Repeat([]byte{0xab, 0xcd}, k)[:k-51]
	ver := []byte{byte(v >> 8), byte(v)}
	var m []byte
	switch n {
	case 0:
		m = slices.Concat([]byte{0x00, 0x02}, pad, []byte{0x00}, ver, robotPMS)
	case 1:
		m = slices.Concat([]byte{0x41, 0x17}, pad, []byte{0x00}, ver, robotPMS)
	case 2:
		m = slices.Concat([]byte{0x00, 0x02}, pad, []byte{0x11}, robotPMS, []byte{0x00, 0x11})
	case 3:
		m = slices.Concat([]byte{0x00, 0x02}, pad, []byte{0x11, 0x11, 0x11}, robotPMS)
	default:
		m = slices.Concat([]byte{0x00, 0x02}, pad, []byte{0x00, 0x02, 0x02}, robotPMS)
	}
	return m[:k]
}

// rsaRaw encrypts m (k bytes) with no padding: m^e mod n.
func rsaRaw(pub *rsa.PublicKey, m []byte) []byte {
	c := new(big.Int).Exp(new(big.Int).SetBytes(m), big.NewInt(int64(pub.E)), pub.N)
	out := make([]byte, (pub.N.BitLen()+7)/8)
	return c.FillBytes(out)
}

// robotFinished is testssl.sh's garbage Finished record body.
var robotFinished = []byte{0x6e, 0x49, 0x65, 0x68, 0x00, 0x46, 0x79, 0xfd, 0x5a, 0x57, 0xdc, 0x3e, 0xef, 0xb2, 0xd2, 0xac,
	0xe0, 0x8c, 0x54, 0x2d, 0x5f, 0x00, 0x87, 0xdb, 0xb6, 0xe3, 0x77, 0x2c, 0x9d, 0x88, 0x27, 0x38,
	0x98, 0x7d, 0xcd, 0x7e, 0xac, 0xdd, 0x5d, 0x72, 0xbe, 0x24, 0x0d, 0x20, 0x36, 0x14, 0x0e, 0x94,
	0x51, 0xde, 0xa0, 0xb6, 0xc7, 0x56, 0x28, 0xd8, 0xa1, 0xcb, 0x24, 0xb9, 0x03, 0xd0, 0x7c, 0x50}

// errRobotRefused: the connection or the hello failed part way through.
var errRobotRefused = errors.New("refused")

// robotOnce runs one variant and returns the server's answer in words
// ("alert bad_record_mac", "timeout", "closed"), or errRobotRefused
// wrapped with why when there was no hello flight to answer.
func (p *prober) robotOnce(ctx context.Context, v uint16, variant int, ccs bool, wait time.Duration, sni string) (string, time.Duration, error) {
	h := p.hello(v, append(slices.Clone(robotSuites), scsvRenegotiation), sni)
	c, br, f, done, why := p.serverHello(ctx, h)
	if why != "" {
		return "", 0, fmt.Errorf("%w: %s", errRobotRefused, why)
	}
	defer done()
	if s := suiteOf(f.Hello.CipherSuite); s.Kx != "RSA" || s.ephemeral() {
		return "", 0, fmt.Errorf("%w: the server chose %s, not a static-RSA suite", errRobotRefused, s.ShortName())
	}
	if len(f.Certificates) == 0 {
		return "", 0, fmt.Errorf("%w: no certificate in the hello flight", errRobotRefused)
	}
	cert, err := x509.ParseCertificate(f.Certificates[0])
	if err != nil {
		return "", 0, fmt.Errorf("%w: certificate: %v", errRobotRefused, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", 0, fmt.Errorf("%w: the certificate's key is not RSA", errRobotRefused)
	}
	k := (pub.N.BitLen() + 7) / 8
	enc := rsaRaw(pub, robotPlaintext(variant, k, f.Hello.Version))
	rv := f.Hello.Version
	cke := handshakeMsg(hsClientKeyExchange, append([]byte{byte(len(enc) >> 8), byte(len(enc))}, enc...))
	out := appendRecords(nil, recordHandshake, rv, cke)
	if ccs {
		out = append(out, recordChangeCipherSpec, byte(rv>>8), byte(rv), 0, 1, 1)
		out = append(out, recordHandshake, byte(rv>>8), byte(rv), 0, byte(len(robotFinished)))
		out = append(out, robotFinished...)
	}
	stepDeadline(ctx, c, wait)
	start := time.Now()
	if _, err := c.Write(out); err != nil {
		return "closed", 0, nil
	}
	a := robotAnswer(br)
	return a, time.Since(start), nil
}

// robotAnswer reads the first record of the answer: an alert's level
// and description, another record type, silence or a hang-up.
func robotAnswer(br *bufio.Reader) string {
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(br, hdr); err != nil {
		switch {
		case netx.Classify(err) == netx.KindTimeout:
			return "timeout"
		case errors.Is(err, syscall.ECONNRESET), netx.Classify(err) == netx.KindReset:
			return "reset"
		}
		return "closed"
	}
	if hdr[0] != recordAlert || int(hdr[3])<<8|int(hdr[4]) < 2 {
		return fmt.Sprintf("record type %d", hdr[0])
	}
	var a [2]byte
	if _, err := io.ReadFull(br, a[:]); err != nil {
		return "closed"
	}
	return "alert " + Alert{Level: a[0], Description: a[1]}.String()
}

func (p *prober) robot(ctx context.Context, v uint16, rsaAccepted bool, sni string) VulnResult {
	r := VulnResult{Check: "robot", Testssl: "ROBOT", Budget: robotBudget}
	switch {
	case v == 0:
		r.Status, r.Detail = VulnNotApplicable, "no SSL 3.0 to TLS 1.2 accepted"
		return r
	case !rsaAccepted:
		r.Status, r.Detail = VulnNotApplicable, "no static-RSA (RSA key transport) suite accepted"
		return r
	}
	// The wait for an answer: vulnWait at first. In the round without
	// ChangeCipherSpec a correct server waits in silence for it, so every
	// connection waits the whole wait: there it is a little over what the
	// first round's answers took (the server's work on a
	// ClientKeyExchange is the same in both rounds). testssl.sh adapts its
	// timeout the same way, with a floor of whole seconds. A shorter wait
	// can only turn a slow answer into "timeout", and a difference that
	// rests on a timeout is confirmed at the full wait before it counts,
	// so it never makes a finding of its own.
	wait := vulnWait
	var slowest time.Duration
	round := func(ccs bool) ([]string, string) {
		if r.Connections+5 > robotBudget {
			return nil, fmt.Sprintf("the connection budget of %d ran out", robotBudget)
		}
		if ctx.Err() != nil {
			return nil, "interrupted"
		}
		// The five connections of a round run at the same time, within
		// the scan's slots (vulnConn): a round whose answer is silence
		// costs one wait per wave, not one per variant. The events are
		// written in variant order when the round is over.
		answers := make([]string, 5)
		errs := make([]error, 5)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				a, took, err := p.robotOnce(ctx, v, i, ccs, wait, sni)
				mu.Lock()
				defer mu.Unlock()
				answers[i], errs[i] = a, err
				if err == nil && a != "timeout" {
					slowest = max(slowest, took)
				}
			})
		}
		wg.Wait()
		for i := range 5 {
			if errs[i] != nil {
				p.rec.Event("probe ROBOT variant %d: %v", i, errs[i])
			} else {
				p.rec.Event("probe ROBOT variant %d (ChangeCipherSpec and Finished: %v): %s", i, ccs, answers[i])
			}
		}
		r.Connections += 5
		for i, err := range errs {
			if err != nil {
				how := "a connection"
				if r.Connections > 5 || i > 0 {
					how = "a connection part way (the server may be rate-limiting)"
				}
				var got []string
				for j, a := range answers {
					if errs[j] == nil {
						got = append(got, fmt.Sprintf("%d: %s", j, a))
					}
				}
				return got, how + ": " + strings.TrimPrefix(err.Error(), "refused: ") + fmt.Sprintf(" (%d of 5 answered: %s)", len(got), strings.Join(got, ", "))
			}
		}
		return answers, ""
	}
	verdict := func(answers []string, with string) bool {
		if uniform(answers) {
			return false
		}
		r.Status = VulnVulnerable
		kind := "strong oracle"
		if answers[1] == answers[2] && answers[2] == answers[3] {
			kind = "weak oracle (the attack would take too long to be practical)"
		} else {
			r.failHard = true
		}
		r.Detail = fmt.Sprintf("%s %s: the five ClientKeyExchange variants %s were answered %s", VersionName(v), kind, with, strings.Join(labelled(answers), ", "))
		return true
	}
	note := func(answers []string) string { return strings.Join(labelled(answers), ", ") }
	for _, ccs := range []bool{true, false} {
		with := "followed by ChangeCipherSpec and Finished"
		if !ccs {
			with = "alone"
		}
		if !ccs && slowest > 0 {
			wait = min(vulnWait, max(robotMinWait, 4*slowest+50*time.Millisecond))
		}
		answers, why := round(ccs)
		if why != "" {
			r.Status, r.Detail = VulnNotTestable, fmt.Sprintf("%s: %s; not a \"not vulnerable\"", VersionName(v), why)
			return r
		}
		if !uniform(answers) && slices.Contains(answers, "timeout") {
			// Confirm a difference that rests on silence: load can be
			// slow, an oracle is consistent.
			wait = vulnWait
			again, why := round(ccs)
			if why != "" {
				r.Status, r.Detail = VulnNotTestable, fmt.Sprintf("%s: answers differed with a timeout (%s), and confirming it failed: %s", VersionName(v), note(answers), why)
				return r
			}
			if !slices.Equal(again, answers) {
				r.Status, r.Detail = VulnNotTestable, fmt.Sprintf("%s: answers differed with a timeout and did not repeat (%s, then %s): the server's answers are not consistent enough to judge", VersionName(v), note(answers), note(again))
				return r
			}
		}
		if verdict(answers, with) {
			return r
		}
		if ccs {
			r.Detail = note(answers)
		}
	}
	r.Status = VulnNotVulnerable
	r.Detail = fmt.Sprintf("%s: the five variants got the same answer with and without ChangeCipherSpec and Finished (%s)", VersionName(v), r.Detail)
	return r
}

func uniform(a []string) bool {
	for _, x := range a {
		if x != a[0] {
			return false
		}
	}
	return true
}

func labelled(a []string) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = fmt.Sprintf("%d: %s", i, x)
	}
	return out
}

// robotVersion is the version ROBOT runs at, as testssl.sh picks it: the
// newest of TLS 1.2 down to SSL 3.0 with a static-RSA suite accepted.
func (sc *scanner) robotVersion() (uint16, bool) {
	any := uint16(0)
	for i := len(sc.res.Versions) - 1; i >= 0; i-- {
		vr := sc.res.Versions[i]
		if !vr.Supported || vr.Code > VersionTLS12 {
			continue
		}
		if any == 0 {
			any = vr.Code
		}
		for _, s := range vr.Suites {
			if x := suiteOf(s.ID); x.Kx == "RSA" && !x.ephemeral() && slices.Contains(robotSuites, s.ID) {
				return vr.Code, true
			}
		}
	}
	return any, false
}
