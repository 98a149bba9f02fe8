package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// brokerMeter samples a broker process's CPU time around a phase.
// It also samples this process's own CPU time.
type brokerMeter struct {
	pid     int
	cpu0    float64
	ok      bool
	self0   float64
	selfOK  bool
	selfCPU float64 // CPU seconds of this process in the last phase
}

func (m *brokerMeter) start() {
	var err error
	m.self0, err = procCPUSeconds(os.Getpid())
	m.selfOK = err == nil
	if m.pid <= 0 {
		return
	}
	m.cpu0, err = procCPUSeconds(m.pid)
	m.ok = err == nil
}

// stop returns the phase's usage, or nil when the process cannot be read.
func (m *brokerMeter) stop(bytes int64, elapsed time.Duration) *brokerUsage {
	m.selfCPU = 0
	if m.selfOK {
		if c, err := procCPUSeconds(os.Getpid()); err == nil {
			m.selfCPU = c - m.self0
		}
		m.selfOK = false
	}
	if !m.ok {
		return nil
	}
	m.ok = false
	cpu, err := procCPUSeconds(m.pid)
	if err != nil {
		return nil
	}
	u := &brokerUsage{CPUSeconds: cpu - m.cpu0}
	if bytes > 0 {
		u.CPUSecondsPerGB = u.CPUSeconds / (float64(bytes) / 1e9)
	}
	if s := elapsed.Seconds(); s > 0 {
		u.CPUPercent = 100 * u.CPUSeconds / s
	}
	u.RSSBytes, u.PeakRSSBytes, _ = procMemory(m.pid)
	return u
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux.
const clockTicks = 100

// procCPUSeconds is the user plus system CPU time of process pid.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return float64(ut+st) / clockTicks, nil
}

// procMemory returns VmRSS and VmHWM (peak RSS) of process pid in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseProcStatus(b)
}

func parseProcStatus(b []byte) (rss, hwm int64, err error) {
	var found int
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if found < 2 {
		return rss, hwm, errors.New("no VmRSS/VmHWM in /proc status")
	}
	return rss, hwm, nil
}

// loadAvg returns the 1, 5 and 15 minute load averages, or nil.
func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	var la []float64
	for _, s := range f[:3] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil
		}
		la = append(la, v)
	}
	return la
}
