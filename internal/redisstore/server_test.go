package redisstore_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// server is a redis-server run by a test: on a free local port, with its
// files in a temporary directory and no persistence.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
}

// startServer starts a redis-server for t, stopped when t ends. It skips
// t when redis-server is not installed (make test-deps installs it).
func startServer(t testing.TB) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH: install the Debian package redis-server (`make test-deps` does, as root) to run the Redis store tests")
	}
	s := &server{t: t, bin: bin, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		err := s.tryStart()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("redis-server: %v\n%s", err, s.logText())
		}
	}
	t.Cleanup(s.kill)
	return s
}

// Addr is the server's host:port.
func (s *server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// restart starts the server again on the same port, after kill.
func (s *server) restart() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatalf("restart redis-server: %v\n%s", err, s.logText())
	}
}

// tryStart starts redis-server and waits until it answers PING.
func (s *server) tryStart() error {
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr()) == nil {
			s.cmd, s.done = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited: %v", cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("no answer to PING on %s", s.Addr())
		}
	}
}

// kill stops the server at once (SIGKILL), as a crash would.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// pause stops the server's process (SIGSTOP): it keeps its connections
// and answers nothing, as a hung server would, until resume.
func (s *server) pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(s.resume)
}

func (s *server) resume() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

func (s *server) logText() string {
	data, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(data)
}

// ping sends PING on a new connection and checks for +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING: got %q", line)
	}
	return nil
}

// freePort returns a local TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
