package loadgen

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPeerPIDAndProcessCPU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	if len(path) > 100 {
		path = filepath.Join(os.TempDir(), "loadgen-cpu-test.sock")
		os.Remove(path)
		t.Cleanup(func() { os.Remove(path) })
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got, want := peerPID(nc), os.Getpid(); got != want {
		t.Errorf("peerPID: got %d, want %d", got, want)
	}
	if _, ok := processCPU(os.Getpid()); !ok {
		t.Error("processCPU of this process: not readable")
	}
	if _, ok := processCPU(-1); ok {
		t.Error("processCPU(-1): got ok")
	}
	if selfCPU() <= 0 {
		t.Error("selfCPU: got 0")
	}
}
