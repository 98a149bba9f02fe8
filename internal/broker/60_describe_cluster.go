package broker

// DescribeCluster: v0-2
//
// Behaviour:
// * This broker, the cluster id and the controller id (this node).
// * EndpointType (v1+): 1 (brokers) is served; 2 (controllers) is
//   UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers it.
// * Cluster authorized operations when asked.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

func init() { register(60, 0, 2, handleDescribeCluster) }

func handleDescribeCluster(b *Broker, r *request, req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if r.version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"
		resp.ErrorMessage = &msg
		return resp
	}
	resp.ClusterID = b.ClusterID()
	resp.ControllerID = b.cfg.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, r.c.l.advertise.host, r.c.l.advertise.port
	resp.Brokers = append(resp.Brokers, br)
	resp.ClusterAuthorizedOperations = noAuthorizedOps
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = authorizedOps(r, auth.Cluster(), clusterOps)
	}
	return resp
}
