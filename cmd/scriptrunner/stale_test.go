package main

import "net"

// makeStaleSocket leaves a socket file nobody listens on, as a runner
// killed with SIGKILL does.
func makeStaleSocket(t interface{ Fatal(...any) }, path string) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
}
