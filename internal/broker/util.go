package broker

import (
	"fmt"
	"net"
	"strconv"
)

func parseHostPort(s string) (hostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return hostPort{}, fmt.Errorf("port %q must be 1-65535", port)
	}
	return hostPort{host: host, port: int32(p)}, nil
}
