//go:build linux || darwin || freebsd || netbsd || openbsd

package netx

import "syscall"

// peekNow copies what the socket already holds into buf without
// consuming it or waiting (MSG_PEEK|MSG_DONTWAIT): 0 when nothing is
// there or the peek is not possible.
func peekNow(sc syscall.Conn, buf []byte) int {
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Read(func(fd uintptr) bool {
		m, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == nil && m > 0 {
			n = m
		}
		return true // never wait
	})
	return n
}
