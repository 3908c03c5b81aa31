//go:build !unix

package sso

import "time"

// processCPU is unknown here: no CPU figure is reported.
func processCPU() time.Duration { return 0 }
