package maillog

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"
)

// genLog is a log of n bytes: Postfix and Dovecot lines as the
// integration environment writes them, seven in ten of them noise
// (connect, TLS, disconnect), failures from 50,000 addresses against
// 20,000 accounts, a success now and then. A 32 MiB corpus of such lines
// is made once and repeated, so that the benchmark times the analyser,
// not the generator.
type genLog struct {
	left    int64
	corpus  []byte
	off     int
	reads   int
	sampled *uint64 // peak HeapInuse, sampled every 256 reads
}

var (
	corpusOnce sync.Once
	corpus     []byte
)

func newGenLog(n int64, peak *uint64) *genLog {
	corpusOnce.Do(func() {
		g := &genLog{}
		for len(corpus) < 32<<20 {
			corpus = g.line(corpus)
			g.reads++
		}
	})
	return &genLog{left: n, corpus: corpus, sampled: peak}
}

func (g *genLog) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if g.off == len(g.corpus) {
		g.off = 0
	}
	c := copy(p, g.corpus[g.off:])
	c = int(min(int64(c), g.left))
	g.off += c
	g.left -= int64(c)
	g.reads++
	if g.sampled != nil && g.reads&0xff == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*g.sampled = max(*g.sampled, ms.HeapInuse)
	}
	return c, nil
}

func (g *genLog) line(b []byte) []byte {
	i := g.reads
	ip := fmt.Sprintf("10.%d.%d.%d", (i/7)%50000/65536, (i/7)%50000/256%256, (i/7)%50000%256)
	user := fmt.Sprintf("user%d@example.org", (i/3)%20000)
	ts := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC).Add(time.Duration(i/50) * time.Second).Format("Jan _2 15:04:05")
	switch i % 10 {
	case 0:
		return fmt.Appendf(b, "%s mail postfix/submission/smtpd[4000]: warning: unknown[%s]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=%s\n", ts, ip, user)
	case 1:
		return fmt.Appendf(b, "%s imap-login: Info: Disconnected: Connection closed (auth failed, 3 attempts in 6 secs): user=<%s>, method=PLAIN, rip=%s, lip=127.0.0.1, TLS: Connection closed, session=<TT/QtNVht9x/AAAC>\n", ts, user, ip)
	case 2:
		if i%1000 == 2 {
			return fmt.Appendf(b, "%s imap-login: Info: Login: user=<%s>, method=PLAIN, rip=%s, lip=127.0.0.1, mpid=4956, TLS, session=<av8Ft9VhLcB/AAAC>\n", ts, user, ip)
		}
		return fmt.Appendf(b, "%s mail postfix/submission/smtpd[4000]: connect from unknown[%s]\n", ts, ip)
	case 3, 4:
		return fmt.Appendf(b, "%s mail postfix/submission/smtpd[4000]: Anonymous TLS connection established from unknown[%s]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n", ts, ip)
	case 5:
		return fmt.Appendf(b, "%s mail postfix/submission/smtpd[4000]: disconnect from unknown[%s] ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5\n", ts, ip)
	case 6:
		return fmt.Appendf(b, "%s mail postfix/qmgr[3998]: 4F2B81C0A: from=<%s>, size=1234, nrcpt=1 (queue active)\n", ts, user)
	case 7:
		return fmt.Appendf(b, "%s lmtp(%s)<4990><abc>: Info: msgid=<x@example.org>: saved mail to INBOX\n", ts, user)
	case 8:
		return fmt.Appendf(b, "%s mail postfix/smtpd[3999]: NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 <x@example.net>: Relay access denied; from=<%s> to=<x@example.net> proto=ESMTP helo=<x>\n", ts, ip, user)
	}
	return fmt.Appendf(b, "%s mail postfix/submission/smtpd[4000]: lost connection after AUTH from unknown[%s]\n", ts, ip)
}

// BenchmarkRead_1GB streams 1 GiB of generated log through the analyser
// and reports lines/s, MB/s and the peak heap in use while it ran (the
// bound: it must not grow with the input).
func BenchmarkRead_1GB(b *testing.B) {
	const size = 1 << 30
	newGenLog(0, nil) // the corpus is not part of the measurement
	b.SetBytes(size)
	b.ReportAllocs()
	var peak uint64
	b.ResetTimer()
	var lines int64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		a := NewAnalyzer(Options{})
		a.Parser.Year = 2026
		if err := a.Read(context.Background(), newGenLog(size, &peak)); err != nil {
			b.Fatal(err)
		}
		lines += a.Stats.Lines
		if a.Stats.Failures == 0 || a.Summary().AllSources == 0 {
			b.Fatal("nothing found")
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
