//go:build !linux

package loadgen

import (
	"net"
	"time"
)

// CPU accounting needs Linux's SO_PEERCRED and /proc; elsewhere the
// results leave it at zero.

func peerPID(net.Conn) int                 { return 0 }
func processCPU(int) (time.Duration, bool) { return 0, false }
func selfCPU() time.Duration               { return 0 }
