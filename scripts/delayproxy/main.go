// Command delayproxy is the TLS benchmark's loopback TCP proxy that adds
// latency: every chunk read in either direction is written on after a
// fixed delay (default 10 ms each way, 20 ms of round-trip time), keeping
// order, the way a WAN link does. The kernel's netem is not available on
// the machines the benchmark runs on.
//
//	delayproxy -target 127.0.0.1:993 [-delay 10ms]
//
// It prints the listening address (127.0.0.1:PORT) on stdout and runs
// until killed. For benchmarks only: no limits beyond the loopback.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

type chunk struct {
	at   time.Time
	data []byte
}

// pipe copies src to dst, each chunk delayed by d from when it was read.
func pipe(dst, src net.Conn, d time.Duration) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(d), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range q {
		if failed {
			continue // drain, so the reader never blocks
		}
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil {
			failed = true
			src.Close()
		}
	}
	// Half-close so the other direction can finish.
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

func main() {
	target := flag.String("target", "", "address to forward to (host:port)")
	delay := flag.Duration("delay", 10*time.Millisecond, "delay in each direction")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "delayproxy: -target is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "delayproxy:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", *target)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{})
			go func() { pipe(u, c, *delay); close(done) }()
			pipe(c, u, *delay)
			<-done
		}()
	}
}
