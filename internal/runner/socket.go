package runner

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Listener is the runner's Unix socket. It removes its file at Close only
// while the file is still the one it created, so a runner that exits never
// deletes the socket of a newer runner started on the same path (APISIX
// reuses the path on reload).
type Listener struct {
	*net.UnixListener
	path     string
	dev, ino uint64
}

// ErrSocketInUse is returned when another live process listens on the path.
var ErrSocketInUse = errors.New("socket is in use by a live runner")

// Listen creates the Unix socket at path with the given permission bits.
// A stale socket file (nobody listening) is replaced; a live one or a file
// that is not a socket is left alone and reported.
func Listen(path string, mode os.FileMode) (*Listener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false)
	l := &Listener{UnixListener: ul, path: path}
	if err := os.Chmod(path, mode); err != nil {
		ul.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	if l.dev, l.ino, err = fileID(path); err != nil {
		ul.Close()
		return nil, err
	}
	return l, nil
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w", path, ErrSocketInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

func fileID(path string) (dev, ino uint64, err error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("stat %s: no device and inode", path)
	}
	return uint64(st.Dev), uint64(st.Ino), nil
}

// ListenWait is Listen, retrying for up to wait while another live runner
// holds the path. APISIX starts the new runner of a reload on the same
// path while it stops the old one: the new runner waits for the old one to
// finish instead of taking its socket away.
func ListenWait(path string, mode os.FileMode, wait time.Duration) (*Listener, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := Listen(path, mode)
		if !errors.Is(err, ErrSocketInUse) || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Path returns the socket path.
func (l *Listener) Path() string { return l.path }

// RemoveIfOwned removes the socket file if it is still the one Listen
// created, and reports whether it did.
func (l *Listener) RemoveIfOwned() bool {
	dev, ino, err := fileID(l.path)
	if err != nil || dev != l.dev || ino != l.ino {
		return false
	}
	return os.Remove(l.path) == nil
}
